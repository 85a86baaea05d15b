package push_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// randomImage returns a small random image and its digest.
func randomImage(t *testing.T) (v1.Image, v1.Hash) {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatalf("random.Image: %v", err)
	}
	return img, digestOf(t, img)
}

func digestOf(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return d
}

// errLayer is a layer whose content cannot be read.
type errLayer struct{ v1.Layer }

var errUnreadable = errors.New("unreadable layer")

func (errLayer) Compressed() (io.ReadCloser, error)   { return nil, errUnreadable }
func (errLayer) Uncompressed() (io.ReadCloser, error) { return nil, errUnreadable }

// brokenImage returns an image whose manifest and config are fine but whose
// top layer cannot be read, so writing it fails part way.
func brokenImage(t *testing.T) v1.Image {
	t.Helper()
	img, _ := randomImage(t)
	l, err := random.Layer(128, "")
	if err != nil {
		t.Fatalf("random.Layer: %v", err)
	}
	broken, err := mutate.AppendLayers(img, errLayer{l})
	if err != nil {
		t.Fatalf("AppendLayers: %v", err)
	}
	return broken
}

func tag(t *testing.T, s string) name.Tag {
	t.Helper()
	tg, err := name.NewTag(s)
	if err != nil {
		t.Fatalf("NewTag(%q): %v", s, err)
	}
	return tg
}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// tree returns every file under dir with its content (a link its target,
// a special file its type), by slash path.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[filepath.ToSlash(rel)+"/"] = ""
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			out[filepath.ToSlash(rel)] = "-> " + target
			return err
		}
		if !d.Type().IsRegular() {
			out[filepath.ToSlash(rel)] = d.Type().String()
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return out
}
