package push_test

import (
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/push"
)

// entry is what the index of a layout says of one image.
type entry struct {
	Ref, Name string
	Digest    v1.Hash
}

// readLayout opens the layout at dir with ggcr, validates it and every image
// in it, and returns its entries sorted by ref name.
func readLayout(t *testing.T, dir string) []entry {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("layout.FromPath(%s): %v", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatalf("ImageIndex: %v", err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("validate.Index: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("IndexManifest: %v", err)
	}
	var out []entry
	for _, d := range im.Manifests {
		img, err := p.Image(d.Digest)
		if err != nil {
			t.Fatalf("reading image %s from the layout: %v", d.Digest, err)
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("validate.Image(%s): %v", d.Digest, err)
		}
		out = append(out, entry{Ref: d.Annotations[specs.AnnotationRefName], Name: d.Annotations["io.containerd.image.name"], Digest: d.Digest})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out
}

func writeLayout(t *testing.T, img v1.Image, tg name.Tag, dir string) {
	t.Helper()
	if err := push.Layout(img, tg, dir); err != nil {
		t.Fatalf("Layout(%s, %s): %v", tg, dir, err)
	}
}

func TestLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "oci")
	v1Tag := tag(t, "example.com/app:v1")
	latest := tag(t, "example.com/app:latest")

	first, firstDigest := randomImage(t)
	writeLayout(t, first, v1Tag, dir)
	want := []entry{{Ref: "v1", Name: "example.com/app:v1", Digest: firstDigest}}
	if diff := cmp.Diff(want, readLayout(t, dir)); diff != "" {
		t.Fatalf("layout after the first write (-want +got):\n%s", diff)
	}

	second, secondDigest := randomImage(t)
	writeLayout(t, second, v1Tag, dir)
	want = []entry{{Ref: "v1", Name: "example.com/app:v1", Digest: secondDigest}}
	if diff := cmp.Diff(want, readLayout(t, dir)); diff != "" {
		t.Fatalf("layout after rewriting the tag (-want +got):\n%s", diff)
	}

	writeLayout(t, first, latest, dir)
	want = []entry{
		{Ref: "latest", Name: "example.com/app:latest", Digest: firstDigest},
		{Ref: "v1", Name: "example.com/app:v1", Digest: secondDigest},
	}
	if diff := cmp.Diff(want, readLayout(t, dir)); diff != "" {
		t.Fatalf("layout after another tag (-want +got):\n%s", diff)
	}

	// Writing the same image under the same tag again changes nothing.
	before := tree(t, dir)
	writeLayout(t, first, latest, dir)
	if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
		t.Errorf("layout after an identical write (-want +got):\n%s", diff)
	}
}

func TestLayoutEmptyDir(t *testing.T) {
	dir := t.TempDir()
	img, d := randomImage(t)
	writeLayout(t, img, tag(t, "app:dev"), dir)
	want := []entry{{Ref: "dev", Name: "index.docker.io/library/app:dev", Digest: d}}
	if diff := cmp.Diff(want, readLayout(t, dir)); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}
	for _, f := range []string{"oci-layout", "index.json", "blobs"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("layout lacks %s: %v", f, err)
		}
	}
}

func TestLayoutErrors(t *testing.T) {
	img, _ := randomImage(t)
	tg := tag(t, "example.com/app:v1")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the layout path
		img   func(t *testing.T) v1.Image
	}{
		{
			name: "non-empty directory without oci-layout",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "out")
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatalf("making %s: %v", p, err)
				}
				if err := os.WriteFile(filepath.Join(p, "notes.txt"), []byte("mine"), 0o644); err != nil {
					t.Fatalf("writing notes.txt: %v", err)
				}
				return p
			},
		},
		{
			name: "a file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "out")
				if err := os.WriteFile(p, []byte("not a directory"), 0o644); err != nil {
					t.Fatalf("writing %s: %v", p, err)
				}
				return p
			},
		},
		{
			name:  "new directory, unreadable layer",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "out") },
			img:   brokenImage,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := tc.setup(t, dir)
			before := tree(t, dir)
			src := img
			if tc.img != nil {
				src = tc.img(t)
			}
			if err := push.Layout(src, tg, p); err == nil {
				t.Fatalf("Layout(%s) succeeded, want an error", p)
			}
			if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
				t.Errorf("files after a failed Layout (-want +got):\n%s", diff)
			}
		})
	}
}

// A failed write into an existing layout leaves its index as it was.
func TestLayoutFailureKeepsIndex(t *testing.T) {
	dir := t.TempDir()
	tg := tag(t, "example.com/app:v1")
	img, d := randomImage(t)
	writeLayout(t, img, tg, dir)
	index, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatalf("reading index.json: %v", err)
	}
	if err := push.Layout(brokenImage(t), tg, dir); err == nil {
		t.Fatalf("Layout of a broken image succeeded")
	}
	after, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatalf("reading index.json: %v", err)
	}
	if diff := cmp.Diff(string(index), string(after)); diff != "" {
		t.Errorf("index.json after a failed Layout (-want +got):\n%s", diff)
	}
	want := []entry{{Ref: "v1", Name: "example.com/app:v1", Digest: d}}
	if diff := cmp.Diff(want, readLayout(t, dir)); diff != "" {
		t.Errorf("layout after a failed Layout (-want +got):\n%s", diff)
	}
	for _, name := range listDir(t, dir) {
		if name != "blobs" && name != "index.json" && name != "oci-layout" {
			t.Errorf("stray file %s in the layout", name)
		}
	}
}
