package deploy

import (
	"context"
	"fmt"

	"github.com/buildercli/builder/internal/koconfig"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/source"
)

// Request names a built image and the service it was built from.
type Request struct {
	// Package is the main package whose .ko.yaml settings apply, as build
	// takes it; "" for the only one.
	Package string
	// KoConfig is $KO_CONFIG_PATH: a file or a directory holding .ko.yaml.
	KoConfig string
	// Image is the image by digest, REPO@sha256:…, as publish printed it.
	Image string
	// Kinds are the kinds to write; nil for every one that applies.
	Kinds []string
}

// Manifests reads the service's settings and its image's config from the
// registry, and generates the files of the kinds asked for.
func Manifests(ctx context.Context, c registry.Client, r Request) ([]File, error) {
	pkg, err := source.Find(ctx, r.Package, r.KoConfig)
	if err != nil {
		return nil, err
	}
	cfg, err := koconfig.Load(pkg.KoConfig)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", pkg.KoConfig, err)
	}
	build, _ := cfg.Find(pkg.Dir)
	settings := build.Image
	if settings == nil {
		settings = &koconfig.Image{}
	}
	config, err := ReadConfig(ctx, c, r.Image)
	if err != nil {
		return nil, err
	}
	return Generate(Input{
		Image:    r.Image,
		Config:   config,
		Name:     cmpOr(settings.Name, pkg.Name),
		Env:      settings.Env,
		Settings: settings.Deploy,
		Kinds:    r.Kinds,
	})
}
