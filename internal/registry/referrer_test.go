package registry

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/partial"

	"github.com/buildercli/builder/internal/registrytest"
)

// TestAttachIsIdempotent: attaching a record twice writes it once, and an
// attach that was cut off before its tag gets the tag the next time.
func TestAttachIsIdempotent(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	repo := reg.Repo(t, "team/app")
	img := ociImage(t, 1)
	ctx := context.Background()
	s := open(t, repo, Client{})
	if _, err := s.Push(ctx, img); err != nil {
		t.Fatalf("Push: %v", err)
	}
	subject, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReferrer(*subject, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`), "2024-05-01T12:00:00Z")
	if err != nil {
		t.Fatalf("NewReferrer: %v", err)
	}
	if err := s.Attach(ctx, r, ""); err != nil { // as if cut off before the tag
		t.Fatalf("Attach: %v", err)
	}
	d, err := r.Digest()
	if err != nil {
		t.Fatal(err)
	}
	const tag = "sha256-x.sbom"
	if _, ok, err := s.Resolve(ctx, tag); err != nil || ok {
		t.Fatalf("tag %s exists before it was asked for (%v)", tag, err)
	}
	reg.Reset()
	if err := s.Attach(ctx, r, tag); err != nil {
		t.Fatalf("Attach again: %v", err)
	}
	if got, ok, err := s.Resolve(ctx, tag); err != nil || !ok || got != d {
		t.Errorf("tag %s = %s (found %v, %v), want %s", tag, got, ok, err, d)
	}
	if n := reg.Count(registrytest.KindUpload) + reg.Count(registrytest.KindManifestDigest); n != 0 {
		t.Errorf("attaching again wrote %d blobs or manifests, want none", n)
	}
	reg.Reset()
	if err := s.Attach(ctx, r, tag); err != nil {
		t.Fatalf("Attach a third time: %v", err)
	}
	if n := reg.Writes(); n != 0 {
		t.Errorf("attaching a complete record wrote %d times, want none", n)
	}
}
