package registry

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/buildercli/builder/internal/registrytest"
)

// TestAttachIsIdempotent: attaching a record twice writes it once; one
// whose manifest is there but that the fallback tag does not list (an
// attach cut off between the two) is listed the next time; no tag of
// cosign's is written, and what another tool listed stays.
func TestAttachIsIdempotent(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{}) // no referrers API: the fallback tag
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
	referrer := func(doc string) *Referrer {
		r, err := NewReferrer(*subject, "application/spdx+json", []byte(doc), "2024-05-01T12:00:00Z", "sbom.spdx.json")
		if err != nil {
			t.Fatalf("NewReferrer: %v", err)
		}
		return r
	}
	foreign, r := referrer(`{"by":"another tool"}`), referrer(`{"spdxVersion":"SPDX-2.3"}`)
	if err := s.Attach(ctx, foreign); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	// r's manifest is pushed by digest, as if the attach stopped before
	// the fallback tag listed it.
	d, err := r.Digest()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := r.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []v1.Layer{static.NewLayer(emptyJSON, types.OCIEmptyJSON), r.Blob} {
		if err := remote.WriteLayer(repo, l, remote.WithAuth(authn.Anonymous)); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPut, "http://"+reg.Direct+"/v2/team/app/manifests/"+d.String(), bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", string(types.OCIManifestSchema1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("putting the manifest alone: %v %v", resp, err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	listed := func() []v1.Hash {
		return registrytest.Referrers(t, repo.Digest(subject.Digest.String()), remote.WithAuth(authn.Anonymous))
	}
	fd, _ := foreign.Digest()
	if got := listed(); len(got) != 1 || got[0] != fd {
		t.Fatalf("referrers = %v, want only the foreign record %s", got, fd)
	}
	if err := s.Attach(ctx, r); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if got := listed(); len(got) != 2 || !slices.Contains(got, d) || !slices.Contains(got, fd) {
		t.Errorf("referrers = %v, want the record and the foreign one", got)
	}
	reg.Reset()
	if err := s.Attach(ctx, r); err != nil {
		t.Fatalf("Attach a third time: %v", err)
	}
	if n := reg.Writes(); n != 0 {
		t.Errorf("attaching a listed record wrote %d times, want none", n)
	}
	tags, err := s.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sha256-" + subject.Digest.Hex}
	if !slices.Equal(tags, want) {
		t.Errorf("tags = %v, want only the referrers fallback %v", tags, want)
	}
	if !strings.Contains(string(raw), `"org.opencontainers.image.title":"sbom.spdx.json"`) {
		t.Errorf("the record's layer has no title for oras pull: %s", raw)
	}
}

// TestRecordBlobsSentAhead: a record whose blobs were sent ahead of it is
// attached without asking for or sending them again, and is listed as
// any other; a Client that New did not make sends nothing ahead.
func TestRecordBlobsSentAhead(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	repo := reg.Repo(t, "team/app")
	img := ociImage(t, 1)
	ctx := context.Background()
	subject, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReferrer(*subject, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`), "2024-05-01T12:00:00Z", "sbom.spdx.json")
	if err != nil {
		t.Fatal(err)
	}

	plain := open(t, repo, Client{Keychain: registrytest.Anonymous})
	if err := plain.SendBlobs(ctx, r.Blobs()); err != nil {
		t.Fatalf("SendBlobs: %v", err)
	}
	if n := len(reg.Requests()); n != 0 {
		t.Errorf("SendBlobs of a client New did not make made %d requests, want none", n)
	}

	s := open(t, repo, Client{Keychain: registrytest.Anonymous, uploads: &uploads{}})
	if _, err := s.Push(ctx, img); err != nil {
		t.Fatalf("Push: %v", err)
	}
	if err := s.SendBlobs(ctx, r.Blobs()); err != nil {
		t.Fatalf("SendBlobs: %v", err)
	}
	if n := reg.Count(registrytest.KindManifestDigest) + reg.Count(registrytest.KindManifestTag); n != 1 {
		t.Errorf("the push and SendBlobs wrote %d manifests, want the image's alone", n)
	}
	// Each blob is there before any manifest names it.
	for _, l := range r.Blobs() {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		want, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		wantData, err := io.ReadAll(want)
		if err != nil {
			t.Fatal(err)
		}
		data := registrytest.ReadBlob(t, repo.Digest(d.String()), remote.WithAuth(authn.Anonymous))
		if !bytes.Equal(data, wantData) {
			t.Errorf("blob %s holds %q, want %q", d, data, wantData)
		}
	}
	reg.Reset()
	if err := s.Attach(ctx, r); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if up, read := reg.Count(registrytest.KindUpload), reg.Count(registrytest.KindBlobRead); up != 0 || read != 0 {
		t.Errorf("attaching a record whose blobs were sent made %d upload and %d blob requests, want none", up, read)
	}
	d, err := r.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got := registrytest.Referrers(t, repo.Digest(subject.Digest.String()), remote.WithAuth(authn.Anonymous)); len(got) != 1 || got[0] != d {
		t.Errorf("referrers = %v, want the record %s", got, d)
	}
}
