package registry

import (
	"net/http"
	"os"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/registrytest"
)

func mustRepo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatalf("NewRepository(%q): %v", s, err)
	}
	return r
}

func TestMountsRecordAndLookup(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: "1111111111111111111111111111111111111111111111111111111111111111"}
	other := v1.Hash{Algorithm: "sha256", Hex: "2222222222222222222222222222222222222222222222222222222222222222"}
	m := Mounts{Dir: t.TempDir()}
	if err := m.Record(mustRepo(t, "registry.test:5000/team/a"), d); err != nil {
		t.Fatalf("Record: %v", err)
	}
	for _, tc := range []struct {
		name string
		repo string
		d    v1.Hash
		want string // "" when there is nothing to mount from
	}{
		{"another repository of the registry", "registry.test:5000/b", d, "registry.test:5000/team/a"},
		{"the repository that has it", "registry.test:5000/team/a", d, ""},
		{"another registry", "other.test:5000/b", d, ""},
		{"another port", "registry.test:5001/b", d, ""},
		{"another blob", "registry.test:5000/b", other, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, ok := m.Lookup(mustRepo(t, tc.repo), tc.d)
			got := ""
			if ok {
				got = src.String()
			}
			if got != tc.want {
				t.Errorf("Lookup(%s) = %q, %v; want %q", tc.repo, got, ok, tc.want)
			}
		})
	}

	// The latest record wins.
	if err := m.Record(mustRepo(t, "registry.test:5000/b"), d); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if src, ok := m.Lookup(mustRepo(t, "registry.test:5000/c"), d); !ok || src.String() != "registry.test:5000/b" {
		t.Errorf("Lookup after a second Record = %s, %v; want registry.test:5000/b", src, ok)
	}
}

func TestMountsZeroValue(t *testing.T) {
	var m Mounts
	dir := t.TempDir()
	t.Chdir(dir)
	d := v1.Hash{Algorithm: "sha256", Hex: "1111111111111111111111111111111111111111111111111111111111111111"}
	if err := m.Record(mustRepo(t, "registry.test/a"), d); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if src, ok := m.Lookup(mustRepo(t, "registry.test/b"), d); ok {
		t.Errorf("the zero Mounts remembered %s", src)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	if len(entries) != 0 {
		t.Errorf("the zero Mounts wrote %d files in the working directory", len(entries))
	}
}

// mountRequests returns the digests of the mounts asked of repo, from
// repository from, sorted.
func mountRequests(reg *registrytest.Registry, repo, from string) []string {
	var ds []string
	for _, q := range reg.Requests() {
		if q.Method == http.MethodPost && q.Kind == registrytest.KindUpload && q.Repo == repo && q.Query.Get("from") == from && q.Query.Get("mount") != "" {
			ds = append(ds, q.Query.Get("mount"))
		}
	}
	sort.Strings(ds)
	return ds
}

func TestSessionMounts(t *testing.T) {
	t.Parallel()
	img := ociImage(t, testLayers)
	d, layerDigests, size := layerFacts(t, img)
	for _, tc := range []struct {
		name string
		// record prepares the registry and the mounts record before the
		// push to repository "b".
		record     func(t *testing.T, reg *registrytest.Registry, m Mounts)
		want       Stats
		wantFrom   string   // the repository mounts are asked from
		wantMounts []string // the layers asked for
	}{{
		name: "a record of another repository mounts",
		record: func(t *testing.T, reg *registrytest.Registry, m Mounts) {
			push(t, reg.Repo(t, "a"), Client{Mounts: m}, img)
		},
		want:       Stats{Layers: testLayers, Mounted: testLayers},
		wantFrom:   "a",
		wantMounts: layerDigests,
	}, {
		name: "no record uploads",
		record: func(t *testing.T, reg *registrytest.Registry, m Mounts) {
			push(t, reg.Repo(t, "a"), Client{}, img)
		},
		want:     Stats{Layers: testLayers, Uploaded: testLayers, UploadedBytes: size},
		wantFrom: "a",
	}, {
		name: "a stale record falls back to uploading",
		record: func(t *testing.T, reg *registrytest.Registry, m Mounts) {
			ls, err := img.Layers()
			if err != nil {
				t.Fatalf("Layers: %v", err)
			}
			for _, l := range ls {
				ld, err := l.Digest()
				if err != nil {
					t.Fatalf("Digest: %v", err)
				}
				if err := m.Record(reg.Repo(t, "gone"), ld); err != nil {
					t.Fatalf("Record: %v", err)
				}
			}
		},
		want:       Stats{Layers: testLayers, Uploaded: testLayers, UploadedBytes: size},
		wantFrom:   "gone",
		wantMounts: layerDigests,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
			m := Mounts{Dir: t.TempDir()}
			tc.record(t, reg, m)
			reg.Reset()
			b := reg.Repo(t, "b")
			got := push(t, b, Client{Mounts: m}, img)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantMounts, mountRequests(reg, "b", tc.wantFrom)); diff != "" {
				t.Errorf("mounts asked from %s (-want +got):\n%s", tc.wantFrom, diff)
			}
			checkImage(t, b, d)
			// b now has the layers: it is what the next push elsewhere mounts from.
			ls, err := img.Layers()
			if err != nil {
				t.Fatalf("Layers: %v", err)
			}
			for _, l := range ls {
				ld, err := l.Digest()
				if err != nil {
					t.Fatalf("Digest: %v", err)
				}
				if src, ok := m.Lookup(reg.Repo(t, "c"), ld); !ok || src.RepositoryStr() != "b" {
					t.Errorf("after the push, Lookup(c, %s) = %s, %v; want b", ld, src, ok)
				}
			}
		})
	}
}

// TestMountsSpecialFile: a FIFO where a record belongs is no record (a
// read would block the push), and a new record replaces it.
func TestMountsSpecialFile(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: "1111111111111111111111111111111111111111111111111111111111111111"}
	m := Mounts{Dir: t.TempDir()}
	a, b := mustRepo(t, "registry.test:5000/a"), mustRepo(t, "registry.test:5000/b")
	if err := m.Record(a, d); err != nil {
		t.Fatalf("Record: %v", err)
	}
	p := m.path(a.RegistryStr(), d)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	type found struct {
		src name.Repository
		ok  bool
	}
	got := make(chan found, 1)
	go func() {
		src, ok := m.Lookup(b, d)
		got <- found{src, ok}
	}()
	select {
	case f := <-got:
		if f.ok {
			t.Errorf("Lookup with a FIFO for the record = %s, want nothing", f.src)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Lookup hangs on a FIFO where the record belongs")
	}
	if err := m.Record(a, d); err != nil {
		t.Fatalf("Record over a FIFO: %v", err)
	}
	if src, ok := m.Lookup(b, d); !ok || src.String() != a.String() {
		t.Errorf("Lookup after a new Record = %s, %v; want %s", src, ok, a)
	}
}
