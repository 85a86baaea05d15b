package layers_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/layers"
)

// header is the part of a tar header that NewLayer decides.
type header struct {
	Name       string
	Typeflag   byte
	Mode       int64
	UID, GID   int
	Uname      string
	Gname      string
	Size       int64
	Content    string
	EpochMTime bool
}

// readLayer returns the entries of l's uncompressed tar stream, in order.
func readLayer(t *testing.T, l v1.Layer) []header {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatalf("Uncompressed: %v", err)
	}
	t.Cleanup(func() { rc.Close() })
	var out []header
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", hdr.Name, err)
		}
		out = append(out, header{
			Name:       hdr.Name,
			Typeflag:   hdr.Typeflag,
			Mode:       hdr.Mode,
			UID:        hdr.Uid,
			GID:        hdr.Gid,
			Uname:      hdr.Uname,
			Gname:      hdr.Gname,
			Size:       hdr.Size,
			Content:    string(data),
			EpochMTime: hdr.ModTime.Equal(layers.Epoch),
		})
	}
	return out
}

// newLayer calls NewLayer and fails the test on error.
func newLayer(t *testing.T, entries []layers.Entry) v1.Layer {
	t.Helper()
	l, err := layers.NewLayer(entries)
	if err != nil {
		t.Fatalf("NewLayer: %v", err)
	}
	return l
}

func digest(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return d
}

func TestNewLayerContent(t *testing.T) {
	l := newLayer(t, []layers.Entry{
		{Path: "tmp", Dir: true, Mode: 0o1777},
		{Path: "/usr/local/bin/app", Mode: 0o555, Data: []byte("binary")},
		{Path: "home/nonroot", Dir: true, Mode: 0o700, UID: 65532, GID: 65532},
		{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/root:/sbin/nologin\n")},
		{Path: "etc/empty", Mode: 0o600, UID: 7, GID: 8},
	})
	dir := func(name string, mode int64, uid int) header {
		return header{Name: name, Typeflag: tar.TypeDir, Mode: mode, UID: uid, GID: uid, EpochMTime: true}
	}
	file := func(name string, mode int64, uid, gid int, content string) header {
		return header{Name: name, Typeflag: tar.TypeReg, Mode: mode, UID: uid, GID: gid,
			Size: int64(len(content)), Content: content, EpochMTime: true}
	}
	want := []header{
		dir("etc/", 0o755, 0),
		file("etc/empty", 0o600, 7, 8, ""),
		file("etc/passwd", 0o644, 0, 0, "root:x:0:0::/root:/sbin/nologin\n"),
		dir("home/", 0o755, 0),
		dir("home/nonroot/", 0o700, 65532),
		dir("tmp/", 0o1777, 0),
		dir("usr/", 0o755, 0),
		dir("usr/local/", 0o755, 0),
		dir("usr/local/bin/", 0o755, 0),
		file("usr/local/bin/app", 0o555, 0, 0, "binary"),
	}
	if diff := cmp.Diff(want, readLayer(t, l)); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
	mt, err := l.MediaType()
	if err != nil {
		t.Fatalf("MediaType: %v", err)
	}
	if mt != types.OCILayer {
		t.Errorf("MediaType = %s, want %s", mt, types.OCILayer)
	}
	if err := validate.Layer(l); err != nil {
		t.Errorf("validate.Layer: %v", err)
	}
}

func TestNewLayerOrderIndependent(t *testing.T) {
	entries := []layers.Entry{
		{Path: "a/b/c", Mode: 0o644, Data: []byte("c")},
		{Path: "a", Dir: true, Mode: 0o750},
		{Path: "z", Mode: 0o600, Data: []byte("z")},
		{Path: "m/n", Dir: true, Mode: 0o1777},
	}
	reversed := make([]layers.Entry, len(entries))
	for i, e := range entries {
		reversed[len(entries)-1-i] = e
	}
	spelled := append([]layers.Entry(nil), entries...)
	spelled[0].Path = "/a/./b//c"
	want := digest(t, newLayer(t, entries))
	for _, tc := range []struct {
		name    string
		entries []layers.Entry
	}{
		{"same order", entries},
		{"reversed", reversed},
		{"unclean paths", spelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(want, digest(t, newLayer(t, tc.entries))); diff != "" {
				t.Errorf("digest (-want +got):\n%s", diff)
			}
		})
	}

	changed := append([]layers.Entry(nil), entries...)
	changed[0].Mode = 0o600
	if got := digest(t, newLayer(t, changed)); got == want {
		t.Errorf("changing a mode kept the digest %s", got)
	}
}

func TestNewLayerErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []layers.Entry
	}{
		{"duplicate path", []layers.Entry{{Path: "etc/passwd"}, {Path: "etc/passwd"}}},
		{"duplicate after cleaning", []layers.Entry{{Path: "etc/passwd"}, {Path: "/etc//passwd"}}},
		{"duplicate of an explicit dir", []layers.Entry{{Path: "etc", Dir: true}, {Path: "/etc/", Dir: true}}},
		{"root slash", []layers.Entry{{Path: "/", Dir: true}}},
		{"root empty", []layers.Entry{{Path: "", Dir: true}}},
		{"root dot", []layers.Entry{{Path: ".", Dir: true}}},
		{"missing source", []layers.Entry{{Path: "bin/app", Source: filepath.Join(t.TempDir(), "absent")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := layers.NewLayer(tc.entries); err == nil {
				t.Fatalf("NewLayer(%+v) = %v, want an error", tc.entries, l)
			}
		})
	}
}

// writeFile writes data to a new file in a temporary directory.
func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
	return p
}

func TestNewLayerSource(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	src := writeFile(t, data)
	l := newLayer(t, []layers.Entry{{Path: "bin/app", Mode: 0o555, Source: src}})
	got := readLayer(t, l)
	if len(got) != 2 {
		t.Fatalf("layer has %d entries, want 2: %+v", len(got), got)
	}
	if got[1].Name != "bin/app" || got[1].Size != int64(len(data)) || got[1].Content != string(data) {
		t.Errorf("bin/app: name %q, size %d, content equal %t; want %q, %d, true",
			got[1].Name, got[1].Size, got[1].Content == string(data), "bin/app", len(data))
	}

	// The same content from Data gives the same layer.
	fromData := newLayer(t, []layers.Entry{{Path: "bin/app", Mode: 0o555, Data: data}})
	if diff := cmp.Diff(digest(t, fromData), digest(t, l)); diff != "" {
		t.Errorf("digest from Source vs Data (-want +got):\n%s", diff)
	}
}

// readAll streams the uncompressed and compressed layer and returns the
// first error either gives.
func readAll(l v1.Layer) error {
	for _, open := range []func() (io.ReadCloser, error){l.Uncompressed, l.Compressed} {
		rc, err := open()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func TestNewLayerSourceChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{"removed", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatalf("removing %s: %v", p, err)
			}
		}},
		{"grown", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("a longer content"), 0o755); err != nil {
				t.Fatalf("rewriting %s: %v", p, err)
			}
		}},
		{"shrunk", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("ab"), 0o755); err != nil {
				t.Fatalf("rewriting %s: %v", p, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := writeFile(t, []byte("original"))
			l := newLayer(t, []layers.Entry{{Path: "bin/app", Mode: 0o555, Source: src}})
			if err := readAll(l); err != nil {
				t.Fatalf("reading the unchanged layer: %v", err)
			}
			tc.change(t, src)
			if err := readAll(l); err == nil {
				t.Errorf("reading the layer after its source was %s: no error", tc.name)
			}
		})
	}
}

// A file whose size Stat does not tell (as with /proc and /sys files) cannot
// be streamed under the size its header declares.
func TestNewLayerSourceSizeMismatch(t *testing.T) {
	for _, p := range []string{
		"/proc/self/status",                           // stat says 0 bytes, more are read
		"/sys/kernel/mm/transparent_hugepage/enabled", // stat says 4096, fewer are read
	} {
		t.Run(p, func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Skipf("reading %s: %v", p, err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("stat %s: %v", p, err)
			}
			if fi.Size() == int64(len(data)) {
				t.Skipf("%s: stat size %d matches its content here", p, fi.Size())
			}
			l, err := layers.NewLayer([]layers.Entry{{Path: "f", Source: p}})
			if err == nil {
				err = readAll(l)
			}
			if err == nil {
				t.Errorf("layer of %s (stat size %d, %d bytes read) streamed without error", p, fi.Size(), len(data))
			}
		})
	}
}

func TestBinaryEntry(t *testing.T) {
	src := writeFile(t, []byte("\x7fELF fake"))
	e, err := layers.BinaryEntry(src, "/usr/local/bin/app")
	if err != nil {
		t.Fatalf("BinaryEntry: %v", err)
	}
	l := newLayer(t, []layers.Entry{e})
	want := []header{
		{Name: "usr/", Typeflag: tar.TypeDir, Mode: 0o755, EpochMTime: true},
		{Name: "usr/local/", Typeflag: tar.TypeDir, Mode: 0o755, EpochMTime: true},
		{Name: "usr/local/bin/", Typeflag: tar.TypeDir, Mode: 0o755, EpochMTime: true},
		{Name: "usr/local/bin/app", Typeflag: tar.TypeReg, Mode: 0o555, Size: 9, Content: "\x7fELF fake", EpochMTime: true},
	}
	if diff := cmp.Diff(want, readLayer(t, l)); diff != "" {
		t.Errorf("binary layer (-want +got):\n%s", diff)
	}

	for _, dest := range []string{"usr/local/bin/app", "app", "./app", ""} {
		t.Run("relative "+dest, func(t *testing.T) {
			if e, err := layers.BinaryEntry(src, dest); err == nil {
				t.Errorf("BinaryEntry(%q) = %+v, want an error", dest, e)
			}
		})
	}
}
