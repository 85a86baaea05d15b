package push_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/layers"
	"github.com/buildercli/builder/internal/push"
)

// untar extracts the tarball at p into a new directory, checking that each
// entry has the fixed owner, mode and time, and returns the directory and
// the entries' names in order.
func untar(t *testing.T, p string) (string, []string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatalf("opening %s: %v", p, err)
	}
	t.Cleanup(func() { f.Close() })
	dir := t.TempDir()
	var names []string
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir, names
		}
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		names = append(names, hdr.Name)
		wantMode := int64(0o644)
		if hdr.Typeflag == tar.TypeDir {
			wantMode = 0o755
		}
		if hdr.Mode != wantMode || hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" || !hdr.ModTime.Equal(layers.Epoch) {
			t.Errorf("%s: mode %o, owner %d:%d (%q:%q), time %v; want %o, 0:0, %v", hdr.Name, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname, hdr.ModTime, wantMode, layers.Epoch)
		}
		target := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatalf("making %s: %v", target, err)
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s from %s: %v", hdr.Name, p, err)
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			t.Fatalf("writing %s: %v", target, err)
		}
	}
}

func blobName(h v1.Hash) string { return "blobs/sha256/" + h.Hex }

// The tarball is also an OCI image layout: its index names the image by
// the manifest builder made, so its digest is the one builder prints.
func TestTarballIsOCILayout(t *testing.T) {
	img, want := randomImage(t)
	tags := []name.Tag{tag(t, "localhost:5000/app:dev"), tag(t, "example.com/team/app:v1.2.3"), tag(t, "app:v1")}
	p := filepath.Join(t.TempDir(), "app.tar")
	if err := push.Tarball(img, tags, p); err != nil {
		t.Fatalf("Tarball: %v", err)
	}
	dir, names := untar(t, p)

	m, err := img.Manifest()
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	blobs := []string{blobName(want), blobName(m.Config.Digest)}
	for _, l := range m.Layers {
		blobs = append(blobs, blobName(l.Digest))
	}
	wantNames := append([]string{"blobs/", "blobs/sha256/"}, slices.Sorted(slices.Values(blobs))...)
	wantNames = append(wantNames, "index.json", "manifest.json", "oci-layout")
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}

	var legacy []struct{ Config string }
	readJSON(t, filepath.Join(dir, "manifest.json"), &legacy)
	if len(legacy) != 1 || legacy[0].Config != blobName(m.Config.Digest) {
		t.Errorf("manifest.json names the config %+v, want %s", legacy, blobName(m.Config.Digest))
	}

	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("reading the tarball as an OCI layout: %v", err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatalf("IndexManifest: %v", err)
	}
	type entry struct {
		Digest        v1.Hash
		RefName, Full string
	}
	var got []entry
	for _, d := range im.Manifests {
		got = append(got, entry{d.Digest, d.Annotations["org.opencontainers.image.ref.name"], d.Annotations["io.containerd.image.name"]})
	}
	wantEntries := []entry{
		{want, "v1", "docker.io/library/app:v1"},
		{want, "v1.2.3", "example.com/team/app:v1.2.3"},
		{want, "dev", "localhost:5000/app:dev"},
	}
	if diff := cmp.Diff(wantEntries, got); diff != "" {
		t.Errorf("index.json entries (-want +got):\n%s", diff)
	}
	fromLayout, err := ii.Image(want)
	if err != nil {
		t.Fatalf("image %s from the layout: %v", want, err)
	}
	if err := validate.Image(fromLayout); err != nil {
		t.Errorf("validate.Image of the layout's image: %v", err)
	}
	if diff := cmp.Diff(want, digestOf(t, fromLayout)); diff != "" {
		t.Errorf("digest in the layout (-want +got):\n%s", diff)
	}
}

// The same image and tags give the same bytes, in whatever order the tags
// come and wherever the file goes.
func TestTarballDeterministic(t *testing.T) {
	img, _ := randomImage(t)
	a, b := tag(t, "example.com/app:v1"), tag(t, "example.com/app:latest")
	p1 := filepath.Join(t.TempDir(), "one.tar")
	p2 := filepath.Join(t.TempDir(), "two.tar")
	if err := push.Tarball(img, []name.Tag{a, b}, p1); err != nil {
		t.Fatalf("Tarball: %v", err)
	}
	if err := push.Tarball(img, []name.Tag{b, a}, p2); err != nil {
		t.Fatalf("Tarball: %v", err)
	}
	one, err := os.ReadFile(p1)
	if err != nil {
		t.Fatalf("reading %s: %v", p1, err)
	}
	two, err := os.ReadFile(p2)
	if err != nil {
		t.Fatalf("reading %s: %v", p2, err)
	}
	if !bytes.Equal(one, two) {
		t.Errorf("two tarballs of one image differ (%d and %d bytes)", len(one), len(two))
	}
	var buf bytes.Buffer
	if err := push.WriteArchive(&buf, img, []name.Tag{a, b}); err != nil {
		t.Fatalf("WriteArchive: %v", err)
	}
	if !bytes.Equal(one, buf.Bytes()) {
		t.Errorf("WriteArchive and Tarball differ (%d and %d bytes)", buf.Len(), len(one))
	}
}

// A layer whose bytes are not those its manifest names fails the write.
func TestTarballChecksLayers(t *testing.T) {
	img, _ := randomImage(t)
	other, _ := randomImage(t)
	err := push.WriteArchive(io.Discard, lyingImage{img, other}, []name.Tag{tag(t, "example.com/app:v1")})
	if err == nil {
		t.Fatalf("WriteArchive of an image whose layers lie succeeded")
	}
	t.Logf("error: %v", err)
}

// lyingImage serves the layers of other under img's digests.
type lyingImage struct {
	v1.Image
	other v1.Image
}

func (l lyingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	ls, err := l.other.Layers()
	if err != nil {
		return nil, err
	}
	return ls[0], nil
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", p, err)
	}
}
