package build

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/partial"

	"github.com/buildercli/builder/internal/attest"
	"github.com/buildercli/builder/internal/push"
)

// None turns off a record: --sbom none, --provenance none.
const None = "none"

// Records returns the SBOMs and provenance of the result, as asked for.
func (r Result) Records(repo string, sbom, provenance bool) (attest.Records, error) {
	in, err := r.attestInput(repo)
	if err != nil {
		return attest.Records{}, err
	}
	return attest.Make(in, sbom, provenance)
}

func (r Result) attestInput(repo string) (attest.Input, error) {
	subject, err := partial.Descriptor(r.Artifact)
	if err != nil {
		return attest.Input{}, fmt.Errorf("describing the image: %w", err)
	}
	in := attest.Input{
		Name: repo, App: r.App, Version: r.Version, Commit: r.Git.Commit, Source: r.Git.Source,
		Created: r.Created, Base: r.Base, BaseDigest: r.BaseDigest, Subject: *subject,
		Build:          attest.BuildSettings(r.Build),
		BuilderVersion: r.BuilderVersion,
	}
	for _, pi := range r.Images {
		d, err := partial.Descriptor(pi.Image)
		if err != nil {
			return attest.Input{}, fmt.Errorf("describing the %s image: %w", pi.Platform, err)
		}
		p := pi.Platform
		d.Platform = &p
		in.Images = append(in.Images, attest.Image{Descriptor: *d, BaseDigest: pi.BaseDigest, Binary: pi.Binary})
	}
	return in, nil
}

// writeRecords writes the SBOMs and provenance to the files o names. With
// several platforms, each SBOM file name gets the platform before its
// extension: sbom.linux-arm64.json.
func writeRecords(res Result, o Options, log io.Writer) error {
	wantSBOM := o.SBOM != "" && o.SBOM != None
	wantProv := o.Provenance != "" && o.Provenance != None
	if !wantSBOM && !wantProv {
		return nil
	}
	recs, err := res.Records(res.Ref.Context().String(), wantSBOM, wantProv)
	if err != nil {
		return err
	}
	for i, doc := range recs.SBOMs {
		path := o.SBOM
		if len(res.Images) > 1 {
			ext := filepath.Ext(path)
			path = strings.TrimSuffix(path, ext) + "." + strings.ReplaceAll(res.Images[i].Platform.String(), "/", "-") + ext
		}
		if err := push.File(path, doc); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s (SPDX SBOM of %s)\n", path, res.Images[i].Platform)
	}
	if wantProv {
		if err := push.File(o.Provenance, recs.Provenance); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s (SLSA provenance)\n", o.Provenance)
	}
	return nil
}
