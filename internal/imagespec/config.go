// Package imagespec decides everything an image says of itself: its
// config (entrypoint, user, environment, ports, healthcheck, stop signal,
// time, platform), its labels and annotations, its history, and the index
// that joins several platforms' images. No other package sets any of these.
package imagespec

import (
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec is the configuration laid over a base image's. Entrypoint, Created
// and Platform are always written; the other fields keep what the base has
// when zero.
type Spec struct {
	// Entrypoint is the binary's absolute path inside the image.
	Entrypoint string
	// User is "uid[:gid]" or a name, as in the OCI config.
	User string
	// Env entries "KEY=value" are set over the base's, key by key.
	Env []string
	// Ports are exposed, as "8080/tcp".
	Ports []string
	// Labels are set on the config; those under org.opencontainers.image.
	// are also set as manifest annotations.
	Labels map[string]string
	// Created is the image's creation time: the commit's, never the clock's.
	Created time.Time
	// Platform is written to the config.
	Platform v1.Platform
	// Healthcheck runs the entrypoint with this argument, when not empty.
	Healthcheck string
	// History says what made the application layer.
	History string
}

// Healthcheck timings written to the config.
const (
	HealthInterval    = 30 * time.Second
	HealthTimeout     = 3 * time.Second
	HealthStartPeriod = 5 * time.Second
	HealthRetries     = 3
)

// Append lays bin over base and sets the configuration spec describes. The
// result uses OCI media types throughout.
func Append(base v1.Image, bin v1.Layer, spec Spec) (v1.Image, error) {
	mt, err := base.MediaType()
	if err != nil {
		return nil, fmt.Errorf("reading the base media type: %w", err)
	}
	if mt != types.OCIManifestSchema1 {
		return nil, fmt.Errorf("base has media type %s: only OCI bases are supported", mt)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     bin,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: spec.Created.UTC()}, CreatedBy: spec.History},
	})
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
	if ann := annotations(spec.Labels); len(ann) > 0 {
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
	c.Cmd = nil
	if spec.User != "" {
		c.User = spec.User
	}
	c.Env = MergeEnv(c.Env, spec.Env)
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
	for k, v := range spec.Labels {
		c.Labels[k] = v
	}
	c.StopSignal = "SIGTERM"
	if spec.Healthcheck != "" {
		c.Healthcheck = &v1.HealthConfig{
			Test:        []string{"CMD", spec.Entrypoint, spec.Healthcheck},
			Interval:    HealthInterval,
			Timeout:     HealthTimeout,
			StartPeriod: HealthStartPeriod,
			Retries:     HealthRetries,
		}
	}
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
