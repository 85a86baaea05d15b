package gocache

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// seedBuild builds the small module with an empty local cache and Repo
// off, once for every test, and keeps that local cache (its pending
// markers included) and the binary.
var seedBuild = struct {
	once   sync.Once
	dir    string // a local cache with every entry pending
	binary []byte
	n      int
}{}

func seeded(t *testing.T) (string, []byte) {
	t.Helper()
	seedBuild.once.Do(func() {
		dir := filepath.Join(testTemp, "seed")
		// Repo is set so that entries are marked pending: a closed
		// registry, so that nothing is fetched, and its note is dropped.
		r := registrytest.New(t, registrytest.Config{})
		r.Close()
		s := Store{Dir: dir, Repo: r.Host + "/cache/go"}
		b := goBuild(t, writeModule(t, smallModule), s)
		s.TakeNotes()
		seedBuild.dir, seedBuild.binary, seedBuild.n = dir, b.binary, len(b.compiled)
	})
	if seedBuild.dir == "" {
		t.Fatal("the seed build failed")
	}
	return seedBuild.dir, seedBuild.binary
}

// uploadSeed uploads a copy of the seed's entries to r's cache/go.
func uploadSeed(t *testing.T, r *registrytest.Registry) []byte {
	t.Helper()
	seedDir, binary := seeded(t)
	dir := filepath.Join(t.TempDir(), "seed copy")
	copyDir(t, seedDir, dir)
	s := Store{Dir: dir, Repo: r.Host + "/cache/go", Registry: registry.Client{Keychain: registrytest.Anonymous}}
	if _, err := s.Upload(context.Background()); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return binary
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := os.Create(filepath.Join(to, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(dst, src); err != nil {
			_ = dst.Close()
			return err
		}
		return dst.Close()
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}

// rotateTags points each entry's tag at the manifest of the next one: every
// entry is whole, but of another action.
func rotateTags(t *testing.T, r *registrytest.Registry) {
	t.Helper()
	repo, err := name.NewRepository(r.Direct + "/cache/go")
	if err != nil {
		t.Fatal(err)
	}
	all, err := remote.List(repo)
	if err != nil {
		t.Fatalf("listing tags: %v", err)
	}
	var tags []string // the entries', not an index's
	for _, tag := range all {
		if isHexID(tag) {
			tags = append(tags, tag)
		}
	}
	if len(tags) < 2 {
		t.Fatalf("%d entries to rotate, want two or more", len(tags))
	}
	var descs []*remote.Descriptor
	for _, tag := range tags {
		d, err := remote.Get(repo.Tag(tag))
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, d)
	}
	for i, tag := range tags {
		if err := remote.Put(repo.Tag(tag), descs[(i+1)%len(descs)]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGoBuildFaults: whatever Repo does, the build succeeds with the
// binary of a clean build; a registry that fails leaves one note, a bad
// entry none. (An empty Repo, all misses, is runner 1 of
// TestGoBuildSharesThroughRepo.)
func TestGoBuildFaults(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, r *registrytest.Registry)
		note  string // in the one note; "" for none
	}{
		{"blobs altered", func(t *testing.T, r *registrytest.Registry) {
			uploadSeed(t, r)
			r.Inject(registrytest.Fault{Method: http.MethodGet, Kind: registrytest.KindBlobRead, Corrupt: true})
		}, ""},
		{"entries of other actions", func(t *testing.T, r *registrytest.Registry) {
			uploadSeed(t, r)
			rotateTags(t, r)
		}, ""},
		{"registry down", func(_ *testing.T, r *registrytest.Registry) { r.Close() }, "cannot reach"},
		{"401", func(_ *testing.T, r *registrytest.Registry) { r.RequireAuth("u", "p") }, "401"},
		{"500", func(_ *testing.T, r *registrytest.Registry) {
			r.Inject(registrytest.Fault{Status: http.StatusInternalServerError})
		}, "500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, want := seeded(t)
			r := registrytest.New(t, registrytest.Config{})
			tc.spoil(t, r)
			s := Store{Dir: localDir(t), Repo: r.Host + "/cache/go"}
			b := goBuild(t, writeModule(t, smallModule), s)
			t.Logf("%d packages compiled in %v (the seed: %d)", len(b.compiled), b.took.Round(time.Millisecond), seedBuild.n)
			if len(b.compiled) != seedBuild.n {
				t.Errorf("compiled %d packages, want all %d", len(b.compiled), seedBuild.n)
			}
			if !bytes.Equal(b.binary, want) {
				t.Errorf("the binary differs from a clean build's")
			}
			checkNotes(t, s.TakeNotes(), tc.note)
		})
	}
}

// TestGoBuildConcurrent: two builds at once, sharing Repo (each with its
// own local cache) or sharing one local cache, both succeed with the same
// binary.
func TestGoBuildConcurrent(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, shareDir := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared Repo", true: "shared Dir"}[shareDir], func(t *testing.T) {
			t.Parallel()
			_, want := seeded(t)
			r := registrytest.New(t, registrytest.Config{})
			repo := r.Host + "/cache/go"
			dirs := []string{localDir(t), localDir(t)}
			if shareDir {
				dirs[1] = dirs[0]
			}
			module := writeModule(t, smallModule)
			var wg sync.WaitGroup
			builds := make([]build, 2)
			for i := range 2 {
				wg.Go(func() { builds[i] = goBuild(t, module, Store{Dir: dirs[i], Repo: repo}) })
			}
			wg.Wait()
			for i, b := range builds {
				t.Logf("builder %d: %d packages compiled in %v", i+1, len(b.compiled), b.took.Round(time.Millisecond))
				if !bytes.Equal(b.binary, want) {
					t.Errorf("builder %d's binary differs from a clean build's", i+1)
				}
			}
			// Both upload at once, then a third builder gets everything.
			errs := make([]error, 2)
			for i := range 2 {
				wg.Go(func() {
					_, errs[i] = Store{Dir: dirs[i], Repo: repo, Registry: registry.Client{Keychain: registrytest.Anonymous}}.Upload(context.Background())
				})
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatalf("Upload: %v", err)
				}
			}
			b := goBuild(t, module, Store{Dir: localDir(t), Repo: repo})
			if len(b.compiled) != 0 || !bytes.Equal(b.binary, want) {
				t.Errorf("a third builder compiled %q; its binary is the same: %v", b.compiled, bytes.Equal(b.binary, want))
			}
		})
	}
}
