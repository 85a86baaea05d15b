package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// emptyJSON is the OCI empty descriptor's content, the config of an
// artifact that has none.
var emptyJSON = []byte("{}")

// Referrer is an OCI 1.1 artifact manifest holding one blob (an SBOM, a
// provenance statement) that refers to a subject image or index.
type Referrer struct {
	// Subject is what the artifact is about.
	Subject v1.Descriptor
	// Blob is the artifact's content; its media type is the artifact type.
	Blob v1.Layer
	raw  []byte
}

type artifactManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// NewReferrer packs data, of media type mt, as an artifact about subject.
// created (the commit's time, RFC 3339) is recorded as the OCI annotation;
// title names the blob's file, as oras pull saves it.
func NewReferrer(subject v1.Descriptor, mt string, data []byte, created, title string) (*Referrer, error) {
	blob := static.NewLayer(data, types.MediaType(mt))
	d, err := blob.Digest()
	if err != nil {
		return nil, err
	}
	cd, err := static.NewLayer(emptyJSON, types.OCIEmptyJSON).Digest()
	if err != nil {
		return nil, err
	}
	subj := v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m := artifactManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  mt,
		Config:        v1.Descriptor{MediaType: types.OCIEmptyJSON, Digest: cd, Size: int64(len(emptyJSON)), Data: emptyJSON},
		Layers: []v1.Descriptor{{MediaType: types.MediaType(mt), Digest: d, Size: int64(len(data)),
			// The file name oras pull saves the blob as.
			Annotations: map[string]string{specs.AnnotationTitle: title}}},
		Subject:     &subj,
		Annotations: map[string]string{"org.opencontainers.image.created": created},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s artifact manifest: %w", mt, err)
	}
	return &Referrer{Subject: subject, Blob: blob, raw: raw}, nil
}

// Blobs are what the artifact's manifest names: its empty config and its
// content.
func (r *Referrer) Blobs() []v1.Layer {
	return []v1.Layer{static.NewLayer(emptyJSON, types.OCIEmptyJSON), r.Blob}
}

// SendBlobs puts blobs that no manifest names yet in the repository, ahead
// of the manifest that will (a record's, see Referrer.Blobs), for its push
// not to wait for them: the session's later uploads of them send nothing.
// Like SendLayers, a Client that New did not make sends nothing ahead.
func (s *Session) SendBlobs(ctx context.Context, blobs []v1.Layer) error {
	if s.c.uploads == nil {
		return nil
	}
	return s.upload(ctx, blobs)
}

// upload puts each blob in the repository, 4 at a time; the session's
// pusher sends each once.
func (s *Session) upload(ctx context.Context, blobs []v1.Layer) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, l := range blobs {
		g.Go(func() error {
			if err := s.pusher.Upload(gctx, s.repo, l); err != nil {
				d, _ := l.Digest()
				return fmt.Errorf("pushing blob %s to %s: %w", d, s.repo, Explain(s.repo.Registry, err))
			}
			return nil
		})
	}
	return g.Wait()
}

// RawManifest returns the artifact's manifest.
func (r *Referrer) RawManifest() ([]byte, error) { return r.raw, nil }

// MediaType is the OCI image manifest's.
func (r *Referrer) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// Digest of the artifact's manifest.
func (r *Referrer) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(r.raw))
	return h, err
}

// Attach pushes the referrer's blobs and manifest (by digest). A registry
// with the referrers API lists it; for one without, ggcr adds it to the
// "sha256-<subject hex>" fallback tag, keeping what other tools listed
// there. It writes no tag of its own: cosign's tags (.sig, .att, .sbom) are
// cosign's. A referrer already pushed is pushed again only when the
// subject's referrers do not list it (an attach cut off before the fallback
// tag was updated).
func (s *Session) Attach(ctx context.Context, r *Referrer) error {
	d, err := r.Digest()
	if err != nil {
		return err
	}
	if have, err := s.puller.Head(ctx, s.repo.Digest(d.String())); err == nil && have.Digest == d {
		if s.listed(ctx, r.Subject.Digest, d) {
			return nil
		}
	} else if err := s.upload(ctx, r.Blobs()); err != nil {
		return err
	}
	if err := s.pusher.Put(ctx, s.repo.Digest(d.String()), r); err != nil {
		return fmt.Errorf("pushing the artifact for %s: %w", r.Subject.Digest, Explain(s.repo.Registry, err))
	}
	return nil
}

// listed reports whether the referrers of subject list d.
func (s *Session) listed(ctx context.Context, subject, d v1.Hash) bool {
	idx, err := remote.Referrers(s.repo.Digest(subject.String()), append(s.c.Options(), remote.WithContext(ctx))...)
	if err != nil {
		return false
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return false
	}
	for _, m := range im.Manifests {
		if m.Digest == d {
			return true
		}
	}
	return false
}
