package push

import (
	"context"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/attest"
	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/registry"
)

// Registry is a repository the image goes to, by digest, with its records
// attached as OCI 1.1 referrers. It writes no tag but the records' own.
type Registry struct {
	Session *registry.Session
	// Stats says what Deliver sent.
	Stats registry.Stats
}

// Deliver implements Destination: it pushes the image and its records side
// by side.
func (r *Registry) Deliver(ctx context.Context, b build.Result, _ io.Writer) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { r.Stats, err = r.Session.Push(gctx, b.Artifact); return err })
	g.Go(func() error { return attach(gctx, r.Session, b) })
	return g.Wait()
}

// SendAhead sends what the push of b to s will need that no manifest
// names yet: the layers and configs of its images and the blobs of its
// records, while the run may still fail and nothing may be pushed (see
// registry.Session.SendLayers); Deliver, on the same session, then sends
// only manifests. A failure only leaves Deliver to send them.
func SendAhead(ctx context.Context, s *registry.Session, b build.Result) error {
	if err := s.SendLayers(ctx, b.Artifact); err != nil {
		return err
	}
	var blobs []v1.Layer
	for _, img := range b.Images {
		cl, err := partial.ConfigLayer(img.Image)
		if err != nil {
			return fmt.Errorf("reading the image config: %w", err)
		}
		blobs = append(blobs, cl)
	}
	order, bySubject, err := referrers(b)
	if err != nil {
		return err
	}
	for _, d := range order {
		for _, r := range bySubject[d] {
			blobs = append(blobs, r.Blobs()...)
		}
	}
	return s.SendBlobs(ctx, blobs)
}

// attach pushes each image's SBOM and the provenance, those the result
// has, as OCI 1.1 referrers of what they describe.
func attach(ctx context.Context, s *registry.Session, b build.Result) error {
	order, bySubject, err := referrers(b)
	if err != nil {
		return err
	}
	// Records of one subject go one after the other: without a referrers
	// API each updates the subject's fallback tag. Subjects go in parallel.
	g, ctx := errgroup.WithContext(ctx)
	for _, d := range order {
		g.Go(func() error {
			for _, r := range bySubject[d] {
				if err := s.Attach(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// referrers packs the records b has, each image's SBOM and the provenance,
// as referrers of what they describe, by subject, and lists the subjects
// in order.
func referrers(b build.Result) ([]v1.Hash, map[v1.Hash][]*registry.Referrer, error) {
	bySubject := map[v1.Hash][]*registry.Referrer{}
	var order []v1.Hash
	created := b.Created.UTC().Format(time.RFC3339)
	add := func(a partial.Describable, mt string, data []byte, title string) error {
		d, err := partial.Descriptor(a)
		if err != nil {
			return fmt.Errorf("describing the subject of %s: %w", title, err)
		}
		r, err := registry.NewReferrer(*d, mt, data, created, title)
		if err != nil {
			return err
		}
		if _, ok := bySubject[d.Digest]; !ok {
			order = append(order, d.Digest)
		}
		bySubject[d.Digest] = append(bySubject[d.Digest], r)
		return nil
	}
	for i, doc := range b.Records.SBOMs {
		// The title is the file name oras pull saves the record as.
		if err := add(b.Images[i].Image, attest.SPDXMediaType, doc, "sbom.spdx.json"); err != nil {
			return nil, nil, err
		}
	}
	if b.Records.Provenance != nil {
		if err := add(b.Artifact, attest.InTotoMediaType, b.Records.Provenance, "provenance.intoto.json"); err != nil {
			return nil, nil, err
		}
	}
	return order, bySubject, nil
}
