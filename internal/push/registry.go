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

// attach pushes each image's SBOM and the provenance, those the result
// has, as OCI 1.1 referrers of what they describe.
func attach(ctx context.Context, s *registry.Session, b build.Result) error {
	// Records of one subject go one after the other: without a referrers
	// API each updates the subject's fallback tag. Subjects go in parallel.
	bySubject := map[v1.Hash][]record{}
	var order []v1.Hash
	add := func(a partial.Describable, r record) error {
		d, err := partial.Descriptor(a)
		if err != nil {
			return fmt.Errorf("describing the subject of %s: %w", r.title, err)
		}
		r.subject = *d
		if _, ok := bySubject[d.Digest]; !ok {
			order = append(order, d.Digest)
		}
		bySubject[d.Digest] = append(bySubject[d.Digest], r)
		return nil
	}
	for i, doc := range b.Records.SBOMs {
		if err := add(b.Images[i].Image, record{mt: attest.SPDXMediaType, data: doc, title: "sbom.spdx.json"}); err != nil {
			return err
		}
	}
	if b.Records.Provenance != nil {
		if err := add(b.Artifact, record{mt: attest.InTotoMediaType, data: b.Records.Provenance, title: "provenance.intoto.json"}); err != nil {
			return err
		}
	}
	created := b.Created.UTC().Format(time.RFC3339)
	g, ctx := errgroup.WithContext(ctx)
	for _, d := range order {
		g.Go(func() error {
			for _, r := range bySubject[d] {
				if err := attachOne(ctx, s, r, created); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// record is one supply-chain record to attach to its subject.
type record struct {
	subject v1.Descriptor
	mt      string
	data    []byte
	title   string // the file name oras pull saves it as
}

func attachOne(ctx context.Context, s *registry.Session, r record, created string) error {
	ref, err := registry.NewReferrer(r.subject, r.mt, r.data, created, r.title)
	if err != nil {
		return err
	}
	return s.Attach(ctx, ref)
}
