package push_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/attest"
	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
)

// TestSendAhead: what SendAhead sends (layers, config, the records'
// blobs) writes no manifest, and leaves the delivery on the same session
// nothing but manifests to write; the image and its records arrive whole.
func TestSendAhead(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	repo := reg.Repo(t, "team/app")
	img, d := randomImage(t)
	b := build.Result{Artifact: img, Image: img, Digest: d,
		Images:  []build.PlatformImage{{Image: img, Digest: d}},
		Created: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Records: attest.Records{SBOMs: [][]byte{[]byte(`{"spdxVersion":"SPDX-2.3"}`)}, Provenance: []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)}}
	c := registry.New(nil)
	c.Keychain = registrytest.Anonymous
	s, err := c.Open(repo)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := push.SendAhead(ctx, s, b); err != nil {
		t.Fatalf("SendAhead: %v", err)
	}
	if n := reg.Count(registrytest.KindManifestDigest) + reg.Count(registrytest.KindManifestTag); n != 0 {
		t.Errorf("SendAhead wrote %d manifests, want none", n)
	}
	if reg.Count(registrytest.KindUpload) == 0 {
		t.Fatal("SendAhead sent nothing")
	}
	reg.Reset()
	to := &push.Registry{Session: s}
	if err := to.Deliver(ctx, b, io.Discard); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if n := reg.Count(registrytest.KindUpload); n != 0 {
		t.Errorf("Deliver after SendAhead made %d upload requests, want none: only manifests are left", n)
	}
	// The image and its two records are there, whole.
	got, err := remote.Image(repo.Digest(d.String()), remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("the image pulled back: %v", err)
	}
	refs := registrytest.Referrers(t, repo.Digest(d.String()), remote.WithAuth(authn.Anonymous))
	if len(refs) != 2 {
		t.Fatalf("the image has %d referrers, want its SBOM and provenance", len(refs))
	}
	for _, rd := range refs {
		rec, err := remote.Image(repo.Digest(rd.String()), remote.WithAuth(authn.Anonymous))
		if err != nil {
			t.Fatal(err)
		}
		ls, err := rec.Layers()
		if err != nil || len(ls) != 1 {
			t.Fatalf("record %s: %d layers, %v", rd, len(ls), err)
		}
		ld, err := ls[0].Digest()
		if err != nil {
			t.Fatal(err)
		}
		registrytest.ReadBlob(t, repo.Digest(ld.String()), remote.WithAuth(authn.Anonymous))
	}
}
