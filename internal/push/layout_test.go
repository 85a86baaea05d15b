package push_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
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

// Writers to one layout, as goroutines or as processes, lose no entry.
func TestLayoutConcurrentWriters(t *testing.T) {
	const writers = 8
	t.Run("goroutines", func(t *testing.T) {
		for round := range 5 {
			concurrentRound(t, round, writers)
		}
	})
	t.Run("processes", func(t *testing.T) {
		exe, err := os.Executable()
		if err != nil {
			t.Fatalf("finding the test binary: %v", err)
		}
		dir := filepath.Join(t.TempDir(), "oci")
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for i := range writers {
			cmd := exec.Command(exe, "-test.run=^TestLayoutWriterProcess$")
			cmd.Env = append(os.Environ(), "LAYOUT_WRITER_DIR="+dir, fmt.Sprintf("LAYOUT_WRITER_TAG=example.com/app:p%d", i))
			out := &bytes.Buffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatalf("starting writer %d: %v", i, err)
			}
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("writer %d: %v\n%s", i, err, outs[i])
			}
		}
		var got []string
		for _, e := range readLayout(t, dir) {
			got = append(got, e.Ref)
		}
		want := []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("tags after %d concurrent processes (-want +got):\n%s", writers, diff)
		}
	})
}

// concurrentRound runs writers goroutines that each write an image under a
// tag of its own into a new layout, and checks that every entry remains.
func concurrentRound(t *testing.T, round, writers int) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	want := make([]entry, writers)
	errs := make(chan error, writers)
	for i := range writers {
		img, d := randomImage(t)
		tg := tag(t, fmt.Sprintf("example.com/app:t%d", i))
		want[i] = entry{Ref: tg.TagStr(), Name: tg.Name(), Digest: d}
		go func() { errs <- push.Layout(img, tg, dir) }()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Errorf("Layout: %v", err)
		}
	}
	if diff := cmp.Diff(want, readLayout(t, dir)); diff != "" {
		t.Errorf("round %d: entries after %d concurrent writers (-want +got):\n%s", round, writers, diff)
	}
}

// TestLayoutWriterProcess is one writer of TestLayoutConcurrentWriters,
// run in a process of its own.
func TestLayoutWriterProcess(t *testing.T) {
	dir := os.Getenv("LAYOUT_WRITER_DIR")
	if dir == "" {
		t.Skip("run by TestLayoutConcurrentWriters")
	}
	img, _ := randomImage(t)
	writeLayout(t, img, tag(t, os.Getenv("LAYOUT_WRITER_TAG")), dir)
}

// Every file of a layout is readable as index.json is, and every directory
// is searchable, whatever the umask.
func TestLayoutModes(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := filepath.Join(t.TempDir(), "oci")
	img, _ := randomImage(t)
	writeLayout(t, img, tag(t, "example.com/app:v1"), dir)
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	if err := push.Layout(idx, tag(t, "example.com/app:index"), dir); err != nil {
		t.Fatalf("Layout of an index: %v", err)
	}
	got := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		got[filepath.ToSlash(rel)] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	if len(got) < 8 {
		t.Fatalf("layout has only %v", got)
	}
	for p, mode := range got {
		want := fs.FileMode(0o644)
		if mode.IsDir() {
			want = fs.ModeDir | 0o755
		}
		if mode != want {
			t.Errorf("%s has mode %v, want %v", p, mode, want)
		}
	}
}

// A blob already in a layout whose content is not what its name says, or
// that is not a regular file, is replaced, not trusted.
func TestLayoutReplacesCorruptBlobs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, p string)
	}{
		{"flipped byte", func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("reading %s: %v", p, err)
			}
			b[len(b)/2] ^= 0xff
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatalf("writing %s: %v", p, err)
			}
		}},
		{"truncated", func(t *testing.T, p string) {
			if err := os.Truncate(p, 10); err != nil {
				t.Fatalf("truncating %s: %v", p, err)
			}
		}},
		{"unreadable to others", func(t *testing.T, p string) {
			if err := os.Chmod(p, 0o600); err != nil {
				t.Fatalf("chmod %s: %v", p, err)
			}
		}},
		{"directory", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatalf("removing %s: %v", p, err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatalf("making %s: %v", p, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			img, d := randomImage(t)
			writeLayout(t, img, tag(t, "example.com/app:v1"), dir)
			ls, err := img.Layers()
			if err != nil {
				t.Fatalf("Layers: %v", err)
			}
			for _, blob := range []v1.Hash{layerDigest(t, ls[0]), d} {
				tc.corrupt(t, filepath.Join(dir, "blobs", blob.Algorithm, blob.Hex))
			}
			writeLayout(t, img, tag(t, "example.com/app:v2"), dir)
			want := []entry{
				{Ref: "v1", Name: "example.com/app:v1", Digest: d},
				{Ref: "v2", Name: "example.com/app:v2", Digest: d},
			}
			if diff := cmp.Diff(want, readLayout(t, dir)); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
			checkBlobs(t, dir)
		})
	}
}

func layerDigest(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatalf("layer Digest: %v", err)
	}
	return d
}

// checkBlobs checks that every blob of the layout at dir is a 0644 regular
// file whose content hashes to its name.
func checkBlobs(t *testing.T, dir string) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	for _, name := range listDir(t, blobs) {
		p := filepath.Join(blobs, name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if fi.Mode() != 0o644 {
			t.Errorf("blob %s has mode %v, want -rw-r--r--", name, fi.Mode())
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("opening %s: %v", p, err)
		}
		h, _, err := v1.SHA256(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("hashing %s: %v", p, err)
		}
		if h.Hex != name {
			t.Errorf("blob %s holds %s", name, h)
		}
	}
}

// Something at the layout path, or at its index.json, that builder did not
// make and would have to follow or replace is refused and left as it was.
func TestLayoutRefusesSpecialFiles(t *testing.T) {
	img, _ := randomImage(t)
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, dir string) string
		wantKind string
	}{
		{"layout path is a symlink to a directory", func(t *testing.T, dir string) string {
			target := filepath.Join(dir, "real")
			if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatalf("making %s: %v", target, err)
			}
			p := filepath.Join(dir, "oci")
			if err := os.Symlink(target, p); err != nil {
				t.Fatalf("symlink: %v", err)
			}
			return p
		}, "a symbolic link"},
		{"layout path is a FIFO", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "oci")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatalf("mkfifo: %v", err)
			}
			return p
		}, "a FIFO"},
		{"oci-layout is a symlink", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "oci")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatalf("making %s: %v", p, err)
			}
			target := filepath.Join(dir, "marker")
			if err := os.WriteFile(target, []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
				t.Fatalf("writing %s: %v", target, err)
			}
			if err := os.Symlink(target, filepath.Join(p, "oci-layout")); err != nil {
				t.Fatalf("symlink: %v", err)
			}
			return p
		}, "a symbolic link"},
		{"index.json is a symlink", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "oci")
			other, _ := randomImage(t)
			writeLayout(t, other, tag(t, "example.com/app:old"), p)
			idx := filepath.Join(p, "index.json")
			if err := os.Rename(idx, filepath.Join(dir, "elsewhere.json")); err != nil {
				t.Fatalf("moving index.json: %v", err)
			}
			if err := os.Symlink(filepath.Join(dir, "elsewhere.json"), idx); err != nil {
				t.Fatalf("symlink: %v", err)
			}
			return p
		}, "a symbolic link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := tc.setup(t, dir)
			before := tree(t, dir)
			err := push.Layout(img, tag(t, "example.com/app:v1"), p)
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.wantKind) {
				t.Fatalf("Layout = %v, want an error naming %s and saying %q", err, p, tc.wantKind)
			}
			if err := push.CheckLayout(p); err == nil {
				t.Errorf("CheckLayout(%s) = nil, want an error", p)
			}
			if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
				t.Errorf("files after a refused Layout (-want +got):\n%s", diff)
			}
		})
	}
}
