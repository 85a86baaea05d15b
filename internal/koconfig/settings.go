package koconfig

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Image holds a service's image settings: the "builder" key of its entry
// in builds, which ko ignores, so that the same file serves both tools.
// Every field is optional; flags override them.
type Image struct {
	// Name renames the binary, the title and the default image name; the
	// last element of the package's import path otherwise.
	Name string `yaml:"name"`
	// Ports the service listens on, "8080", "8080/tcp" or "53/udp".
	Ports []string `yaml:"ports"`
	// Env is set in the image: "KEY=value".
	Env []string `yaml:"env"`
	// Healthcheck says how to tell that the service is healthy; none when
	// absent.
	Healthcheck *Healthcheck `yaml:"healthcheck"`
	// User runs the image, "uid[:gid]" or a name of the base.
	User string `yaml:"user"`
	// Labels go on the image config; Annotations on its manifest.
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	// WorkingDir is the directory the service starts in.
	WorkingDir string `yaml:"workingDir"`
	// Args are the default arguments after the binary.
	Args []string `yaml:"args"`
	// StopSignal is the signal that asks the service to stop, e.g. SIGTERM.
	StopSignal string `yaml:"stopSignal"`
	// Deploy is read by builder manifests only, never by a build.
	Deploy *Deploy `yaml:"deploy"`
}

// Healthcheck is one of: the service's own binary run with Command, or an
// HTTP GET of Path on Port (builder's probe, for services with no such
// mode), or None. Interval, Timeout and StartPeriod are Go durations
// ("30s"); zero values take builder's defaults.
type Healthcheck struct {
	None        bool     `yaml:"-"`
	Command     []string `yaml:"command"`
	HTTP        string   `yaml:"http"`
	Port        int      `yaml:"port"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	StartPeriod string   `yaml:"startPeriod"`
	Retries     int      `yaml:"retries"`
}

// UnmarshalYAML reads "none", or the mapping.
func (h *Healthcheck) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "none" {
		*h = Healthcheck{None: true}
		return nil
	}
	type plain Healthcheck
	var p plain
	if err := strictDecode(n, &p); err != nil {
		return err
	}
	*h = Healthcheck(p)
	return nil
}

// strictDecode decodes n into v, refusing keys v has no field for: a typo
// in a setting must not pass silently.
func strictDecode(n *yaml.Node, v any) error {
	data, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("unknown key %q", m[1])
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:")
		return errors.New(strings.Join(strings.Fields(lineRef.ReplaceAllString(msg, "")), " "))
	}
	return nil
}

var (
	unknownField = regexp.MustCompile(`field (\S+) not found in type`)
	lineRef      = regexp.MustCompile(`line \d+: `)
)

// imageSettings decodes the "builder" key of each build, strictly.
func (c *Config) imageSettings(doc *yaml.Node) error {
	builds := mapping(doc)["builds"]
	if builds == nil || builds.Kind != yaml.SequenceNode {
		return nil
	}
	for i, b := range builds.Content {
		n := mapping(b)["builder"]
		if n == nil || i >= len(c.Builds) {
			continue
		}
		var img Image
		if err := strictDecode(n, &img); err != nil {
			return fmt.Errorf("builds[%d].builder: %w", i, err)
		}
		c.Builds[i].Image = &img
	}
	return nil
}
