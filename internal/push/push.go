// Package push delivers built images: to a registry (blobs, then manifests
// by digest, and the records beside them; tags are the release's work), to
// a docker-archive tarball, into an OCI image layout, and the records to
// files. Each is a Destination, so that one run fans out to several; the
// terminal display of a registry push is here too.
package push

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/build"
)

// A Destination is somewhere a built image goes.
type Destination interface {
	// Deliver writes or sends b; notes go to log.
	Deliver(ctx context.Context, b build.Result, log io.Writer) error
}

// Multi delivers to each destination in turn, and stops at the first that
// fails.
type Multi []Destination

// Deliver implements Destination.
func (m Multi) Deliver(ctx context.Context, b build.Result, log io.Writer) error {
	for _, d := range m {
		if err := d.Deliver(ctx, b, log); err != nil {
			return err
		}
	}
	return nil
}

// ErrTarballIndex refuses a tarball of several platforms' images.
var ErrTarballIndex = errors.New("--tarball holds one platform's image: give one --platform, or use --oci-layout DIR for several")

// TarballFile is a file that is both a docker-archive and an OCI image
// layout archive (see Tarball), named by the result's reference.
type TarballFile string

// Deliver implements Destination.
func (t TarballFile) Deliver(_ context.Context, b build.Result, log io.Writer) error {
	if b.Image == nil {
		return ErrTarballIndex
	}
	if err := Tarball(b.Image, []name.Tag{b.Ref}, string(t)); err != nil {
		return err
	}
	fmt.Fprintf(log, "wrote %s (%s)\n", t, b.Ref)
	return nil
}

// LayoutDir is an OCI image layout, where the result goes under its tag.
type LayoutDir string

// Deliver implements Destination.
func (l LayoutDir) Deliver(_ context.Context, b build.Result, log io.Writer) error {
	if err := Layout(b.Artifact, b.Ref, string(l)); err != nil {
		return err
	}
	fmt.Fprintf(log, "wrote %s (%s)\n", l, b.Ref.TagStr())
	return nil
}

// RecordFiles are files for the result's records; "" for none. With
// several platforms, each SBOM file's name gets the platform before its
// extension: sbom.linux-arm64.json.
type RecordFiles struct {
	SBOM, Provenance string
}

// Deliver implements Destination.
func (r RecordFiles) Deliver(_ context.Context, b build.Result, log io.Writer) error {
	if r.SBOM != "" {
		for i, doc := range b.Records.SBOMs {
			path := r.sbomPath(b, i)
			if err := atomicfile.WriteFile(path, doc); err != nil {
				return err
			}
			fmt.Fprintf(log, "wrote %s (SPDX SBOM of %s)\n", path, b.Images[i].Platform)
		}
	}
	if r.Provenance != "" && b.Records.Provenance != nil {
		if err := atomicfile.WriteFile(r.Provenance, b.Records.Provenance); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s (SLSA provenance)\n", r.Provenance)
	}
	return nil
}
