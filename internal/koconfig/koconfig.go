// Package koconfig reads ko's .ko.yaml, the one place an application's build
// settings live, and renders its templated flags.
package koconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// Config holds the fields of .ko.yaml that builder honours.
type Config struct {
	DefaultBaseImage   string            `yaml:"defaultBaseImage"`
	BaseImageOverrides map[string]string `yaml:"baseImageOverrides"`
	DefaultPlatforms   []string          `yaml:"defaultPlatforms"`
	DefaultEnv         []string          `yaml:"defaultEnv"`
	DefaultFlags       []string          `yaml:"defaultFlags"`
	DefaultLdflags     []string          `yaml:"defaultLdflags"`
	Builds             []Build           `yaml:"builds"`

	// Ignored lists the fields present in the file that builder does not
	// use, as "builds[0].goos", sorted.
	Ignored []string `yaml:"-"`
	// Dir is the directory that holds the file; the paths of builds are
	// relative to it.
	Dir string `yaml:"-"`
}

// Build is one entry of builds.
type Build struct {
	ID      string   `yaml:"id"`
	Dir     string   `yaml:"dir"`
	Main    string   `yaml:"main"`
	Env     []string `yaml:"env"`
	Flags   []string `yaml:"flags"`
	Ldflags []string `yaml:"ldflags"`
	// Image holds the service's image settings; nil when it has none.
	Image *Image `yaml:"-"`
}

// The keys builder reads; any other is reported in Config.Ignored.
var (
	knownTop = map[string]bool{"defaultBaseImage": true, "baseImageOverrides": true, "defaultPlatforms": true,
		"defaultEnv": true, "defaultFlags": true, "defaultLdflags": true, "builds": true}
	knownBuild = map[string]bool{"id": true, "dir": true, "main": true, "env": true,
		"flags": true, "ldflags": true, "builder": true}
)

// Load reads the file at p. A missing file gives an empty Config and no error.
func Load(p string) (*Config, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{Dir: filepath.Dir(p)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return Parse(data, filepath.Dir(p))
}

// Parse reads .ko.yaml content whose file sits in dir.
func Parse(data []byte, dir string) (*Config, error) {
	cfg := &Config{Dir: dir}
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, fmt.Errorf("parsing .ko.yaml: %w", err)
	}
	if len(node.Content) == 0 {
		return cfg, nil
	}
	if err := node.Decode(cfg); err != nil {
		return nil, fmt.Errorf("parsing .ko.yaml: %w", err)
	}
	if err := cfg.imageSettings(node.Content[0]); err != nil {
		return nil, fmt.Errorf("parsing .ko.yaml: %w", err)
	}
	cfg.Ignored = ignored(node.Content[0])
	return cfg, nil
}

// ignored lists the keys of the document that Config does not hold.
func ignored(doc *yaml.Node) []string {
	var out []string
	for key, val := range mapping(doc) {
		if !knownTop[key] {
			out = append(out, key)
			continue
		}
		if key != "builds" || val.Kind != yaml.SequenceNode {
			continue
		}
		for i, b := range val.Content {
			for bk := range mapping(b) {
				if !knownBuild[bk] {
					out = append(out, fmt.Sprintf("builds[%d].%s", i, bk))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func mapping(n *yaml.Node) map[string]*yaml.Node {
	m := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		return m
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		m[n.Content[i].Value] = n.Content[i+1]
	}
	return m
}

// Find returns the build whose dir and main name the package at pkgDir, or
// a build made of the defaults when none does.
func (c *Config) Find(pkgDir string) (Build, bool) {
	want, err := filepath.Abs(pkgDir)
	if err == nil {
		for _, b := range c.Builds {
			got, err := filepath.Abs(filepath.Join(c.Dir, b.Dir, b.Main))
			if err == nil && got == want {
				return c.withDefaults(b), true
			}
		}
	}
	return c.withDefaults(Build{}), false
}

func (c *Config) withDefaults(b Build) Build {
	if b.Env == nil {
		b.Env = c.DefaultEnv
	}
	if b.Flags == nil {
		b.Flags = c.DefaultFlags
	}
	if b.Ldflags == nil {
		b.Ldflags = c.DefaultLdflags
	}
	return b
}

// Git holds the template fields ko offers under .Git.
type Git struct {
	Branch, Tag, ShortCommit, FullCommit string
	CommitDate, CommitTimestamp          string
	IsDirty, IsClean                     bool
	TreeState                            string
}

// Data is what ko's templates in flags and ldflags may use. Date and
// Timestamp are the commit's time, not the clock's, so that a build is
// reproducible.
type Data struct {
	Env       map[string]string
	Date      string
	Timestamp string
	Git       Git
}

// Render executes each string as a template over data.
func Render(in []string, data Data) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, s := range in {
		t, err := template.New("flag").Option("missingkey=error").Parse(s)
		if err != nil {
			return nil, fmt.Errorf("parsing template %q: %w", s, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("rendering template %q: %w", s, err)
		}
		out = append(out, buf.String())
	}
	return out, nil
}

// EnvMap turns "KEY=value" entries into a map; later entries win.
func EnvMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}
