// Package imagespec decides everything an image says of itself: its
// config (entrypoint, arguments, user, environment, ports, healthcheck,
// stop signal, working directory, time, platform), its labels and
// annotations, its history, and the index that joins several platforms'
// images. No other package sets any of these.
package imagespec

import (
	"fmt"
	"maps"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec is the configuration laid over a base image's. It says only what
// the service asked for: the base's User, Env, WorkingDir and labels stay
// unless a field sets them (but for labels that describe the base itself);
// the base's own command, ports and healthcheck, which describe another
// program, never do.
type Spec struct {
	// Entrypoint is the binary's absolute path inside the image.
	Entrypoint string
	// Args are the default arguments after it.
	Args []string
	// User is "uid[:gid]", as in the OCI config; the base's when empty.
	User string
	// Env entries "KEY=value" are set over the base's, key by key.
	Env []string
	// Ports are exposed, as "8080/tcp"; none when empty.
	Ports []string
	// Labels are set on the config; those under org.opencontainers.image.
	// are also set as manifest annotations.
	Labels map[string]string
	// Annotations are set on the manifest.
	Annotations map[string]string
	// WorkingDir is where the entrypoint starts; the base's when empty.
	WorkingDir string
	// StopSignal asks the service to stop; none (the runtime's SIGTERM)
	// when empty.
	StopSignal string
	// Healthcheck, when not nil, tells whether the service is healthy.
	Healthcheck *v1.HealthConfig
	// Created is the image's creation time: the commit's, never the clock's.
	Created time.Time
	// Platform is written to the config.
	Platform v1.Platform
	// Format is FormatOCI (when empty) or FormatDocker, which has no
	// manifest annotations.
	Format string
}

// Layer is a layer to lay over the base, with the history entry that
// says what made it.
type Layer struct {
	Layer   v1.Layer
	History string
}

// Append lays layers over base and sets the configuration spec describes.
// The result uses OCI media types throughout.
func Append(base v1.Image, layers []Layer, spec Spec) (v1.Image, error) {
	mt, err := base.MediaType()
	if err != nil {
		return nil, fmt.Errorf("reading the base media type: %w", err)
	}
	if mt != types.OCIManifestSchema1 {
		return nil, fmt.Errorf("base has media type %s: only OCI bases are supported", mt)
	}
	adds := make([]mutate.Addendum, len(layers))
	for i, l := range layers {
		adds[i] = mutate.Addendum{
			Layer:     l.Layer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: spec.Created.UTC()}, CreatedBy: l.History},
		}
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, fmt.Errorf("appending the application layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	cf = cf.DeepCopy()
	configure(cf, spec)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting the image config: %w", err)
	}
	if spec.Format == FormatDocker {
		return Retype(img, FormatDocker)
	}
	ann := annotations(spec.Labels)
	maps.Copy(ann, spec.Annotations)
	if len(ann) > 0 {
		img = mutate.Annotations(img, ann).(v1.Image)
	}
	return img, nil
}

func configure(cf *v1.ConfigFile, spec Spec) {
	cf.Created = v1.Time{Time: spec.Created.UTC()}
	cf.OS = spec.Platform.OS
	cf.Architecture = spec.Platform.Architecture
	cf.Variant = spec.Platform.Variant
	c := &cf.Config
	c.Entrypoint = []string{spec.Entrypoint}
	c.Cmd = append([]string(nil), spec.Args...)
	if spec.User != "" {
		c.User = spec.User
	}
	if spec.WorkingDir != "" {
		c.WorkingDir = spec.WorkingDir
	}
	c.Env = MergeEnv(c.Env, spec.Env)
	c.ExposedPorts = nil
	if len(spec.Ports) > 0 {
		c.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.Ports {
			c.ExposedPorts[p] = struct{}{}
		}
	}
	// The base's own descriptive labels would lie about the result.
	for k := range c.Labels {
		if DescribesImage(k) {
			delete(c.Labels, k)
		}
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	maps.Copy(c.Labels, spec.Labels)
	c.StopSignal = spec.StopSignal
	c.Healthcheck = spec.Healthcheck
}

// MergeEnv returns base with each "KEY=value" of over set, replacing an entry
// of the same key in place and appending new keys in order.
func MergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		key, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if k, _, _ := strings.Cut(old, "="); k == key {
				out[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// DescribesImage reports whether a label or annotation key describes the
// image that carries it (org.opencontainers.image.*, org.label-schema.*): a
// base's own would lie about an image built on it.
func DescribesImage(key string) bool {
	return strings.HasPrefix(key, "org.opencontainers.image.") || strings.HasPrefix(key, "org.label-schema.")
}

// annotations returns the labels under org.opencontainers.image., which the
// OCI image spec defines for manifests too.
func annotations(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if strings.HasPrefix(k, "org.opencontainers.image.") {
			out[k] = v
		}
	}
	return out
}
