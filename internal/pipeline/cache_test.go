package pipeline_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildercli/builder/internal/basetest"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
)

// cachedBuild builds pkg on base (with an HTTP probe, so that every kind
// of cache entry is made) with the cache in dir, and returns the digest and
// what the build said.
func cachedBuild(t *testing.T, pkg, base, dir string) (string, string, error) {
	t.Helper()
	var log bytes.Buffer
	o := buildOptions(pkg)
	o.OCILayout = filepath.Join(t.TempDir(), "out")
	o.Build.Base = base
	o.Build.Ports = []string{"8080"}
	o.Build.Healthcheck = "http:/healthz"
	o.Build.Platform = "linux/amd64"
	o.env.Cache.Dir = dir
	o.env.Log = &log
	o.env.Registry = registry.Client{Keychain: registrytest.Anonymous}
	res, err := o.build(context.Background())
	return res.Digest.String(), log.String(), err
}

// walkFiles lists the regular files under dir whose path contains part.
func walkFiles(t *testing.T, dir, part string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.Contains(p, part) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flipByte(t *testing.T, p string, at int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at = fi.Size() / 2
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// TestCacheIsNeverTrusted corrupts each kind of cache entry after a build:
// the next build gives the same digest and says nothing failed; a cache that
// cannot be written degrades to building without it, with one note.
func TestCacheIsNeverTrusted(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	d := reg.Push(t, "base:v1", basetest.Index(t, basetest.OCI))
	baseRef := reg.Host + "/base@" + d.String()
	pkg := committed(t, nil)
	want, _, err := cachedBuild(t, pkg, baseRef, "")
	if err != nil {
		t.Fatalf("building without a cache: %v", err)
	}
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, dir string)
		note    string // what the build must say, if anything
	}{
		{"flipped byte in a compressed layer", func(t *testing.T, dir string) {
			for _, p := range walkFiles(t, filepath.Join(dir, "layers"), "/blob") {
				flipByte(t, p, -1)
			}
		}, ""},
		{"key record naming another layer", func(t *testing.T, dir string) {
			blobs := walkFiles(t, filepath.Join(dir, "layers"), "meta.json")
			other := filepath.Base(filepath.Dir(blobs[0]))
			for _, p := range walkFiles(t, filepath.Join(dir, "keys"), "") {
				if err := os.WriteFile(p, []byte("sha256:"+other), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}, ""},
		{"flipped byte in a cached binary", func(t *testing.T, dir string) {
			for _, p := range walkFiles(t, filepath.Join(dir, "bin"), "") {
				if !strings.HasSuffix(p, ".fingerprint") && !strings.HasSuffix(p, ".lock") && !strings.Contains(p, "/src/") {
					flipByte(t, p, -1)
				}
			}
		}, ""},
		{"truncated cached binary", func(t *testing.T, dir string) {
			for _, p := range walkFiles(t, filepath.Join(dir, "bin"), "") {
				if !strings.HasSuffix(p, ".fingerprint") && !strings.HasSuffix(p, ".lock") && !strings.Contains(p, "/src/") {
					if err := os.Truncate(p, 1000); err != nil {
						t.Fatal(err)
					}
				}
			}
		}, ""},
		{"garbage fingerprint stamp", func(t *testing.T, dir string) {
			for _, p := range walkFiles(t, filepath.Join(dir, "bin"), ".fingerprint") {
				if err := os.WriteFile(p, []byte("garbage"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}, ""},
		{"flipped byte in a cached base layer", func(t *testing.T, dir string) {
			for _, p := range walkFiles(t, filepath.Join(dir, "bases", "blobs"), "") {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if len(data) > 0 && data[0] == 0x1f { // a gzip layer
					flipByte(t, p, -1)
				}
			}
		}, "is not sound"},
		{"replaced cached base manifest", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "bases", "blobs", d.Algorithm, d.Hex)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, bytes.Replace(data, []byte("amd64"), []byte("arm64"), 1), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "is not sound"},
		{"garbage bases/index.json", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "bases", "index.json"), []byte("{garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "is not sound"},
		{"read-only cache", func(t *testing.T, dir string) {
			if os.Geteuid() == 0 {
				// root writes anyway: make the cache a file instead.
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(dir, []byte("not a directory"), 0o444); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		}, "cannot be written"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			if got, _, err := cachedBuild(t, pkg, baseRef, dir); err != nil || got != want {
				t.Fatalf("first cached build: %s, %v; want %s", got, err, want)
			}
			tc.corrupt(t, dir)
			got, log, err := cachedBuild(t, pkg, baseRef, dir)
			if err != nil {
				t.Fatalf("build after the corruption: %v\n%s", err, log)
			}
			if got != want {
				t.Errorf("build after the corruption gave %s, want %s\n%s", got, want, log)
			}
			if tc.note != "" && strings.Count(log, tc.note) != 1 {
				t.Errorf("the build said %q, want one note saying %q", log, tc.note)
			}
			if again, _, err := cachedBuild(t, pkg, baseRef, dir); err != nil || again != want {
				t.Errorf("the build after that: %s, %v; want %s", again, err, want)
			}
		})
	}
}
