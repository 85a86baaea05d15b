package publish

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/attest"
	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
)

// attach pushes each image's SBOM and the provenance as OCI 1.1 referrers
// of what they describe, unless turned off with "none".
func attach(ctx context.Context, s *push.Session, b build.Result, repo name.Repository, o build.Options) error {
	wantSBOM, wantProv := o.SBOM != build.None, o.Provenance != build.None
	if !wantSBOM && !wantProv {
		return nil
	}
	recs, err := b.Records(repo.String(), wantSBOM, wantProv)
	if err != nil {
		return err
	}
	// Records of one subject go one after the other: without a referrers
	// API each updates the subject's fallback tag. Subjects go in parallel.
	bySubject := map[v1.Hash][]record{}
	var order []v1.Hash
	add := func(a partial.Describable, r record) error {
		d, err := partial.Descriptor(a)
		if err != nil {
			return fmt.Errorf("describing %s: %w", r.suffix, err)
		}
		r.subject = *d
		if _, ok := bySubject[d.Digest]; !ok {
			order = append(order, d.Digest)
		}
		bySubject[d.Digest] = append(bySubject[d.Digest], r)
		return nil
	}
	for i, doc := range recs.SBOMs {
		if err := add(b.Images[i].Image, record{mt: attest.SPDXMediaType, data: doc, suffix: ".sbom"}); err != nil {
			return err
		}
	}
	if wantProv {
		if err := add(b.Artifact, record{mt: attest.InTotoMediaType, data: recs.Provenance, suffix: ".att"}); err != nil {
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
	suffix  string
}

func attachOne(ctx context.Context, s *push.Session, r record, created string) error {
	ref, err := push.NewReferrer(r.subject, r.mt, r.data, created)
	if err != nil {
		return err
	}
	return s.Attach(ctx, ref, r.subject.Digest.Algorithm+"-"+r.subject.Digest.Hex+r.suffix)
}
