package build

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/partial"

	"github.com/buildercli/builder/internal/attest"
)

// records makes the SBOM of each image and the provenance of the result,
// as the request asked for them.
func (pl *Planned) records(r Result) (attest.Records, error) {
	if !pl.req.SBOM && !pl.req.Provenance {
		return attest.Records{}, nil
	}
	subject, err := partial.Descriptor(r.Artifact)
	if err != nil {
		return attest.Records{}, fmt.Errorf("describing the image: %w", err)
	}
	// The records name the image as the user did: a Docker Hub default
	// (index.docker.io/library/…) that nobody asked for would lie.
	given := pl.req.Repo
	if given == "" {
		given = strings.ToLower(pl.svc.name)
	}
	in := attest.Input{
		Name: r.Ref.Context().String(), GivenName: given, App: pl.src.ImportPath, Version: r.Version,
		Commit: pl.meta.git.Commit, Source: pl.meta.git.Source, Created: pl.meta.created,
		Base: pl.base.Name, BaseDigest: pl.base.Digest, Subject: *subject,
		Build: pl.settings, BuilderVersion: pl.env.BuilderVersion,
	}
	for _, pi := range r.Images {
		d, err := partial.Descriptor(pi.Image)
		if err != nil {
			return attest.Records{}, fmt.Errorf("describing the %s image: %w", pi.Platform, err)
		}
		p := pi.Platform
		d.Platform = &p
		in.Images = append(in.Images, attest.Image{Descriptor: *d, BaseDigest: pi.BaseDigest, Binary: pi.Binary})
	}
	return attest.Make(in, pl.req.SBOM, pl.req.Provenance)
}
