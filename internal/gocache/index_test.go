package gocache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildercli/builder/internal/registrytest"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// indexKeyForTests is the Index the tests publish under.
const indexKeyForTests = "linux/amd64 go1.x example.com/web"

// indexedSeed gets then puts each of names (bodies "body of NAME") in a
// Store of r, and uploads them with Index set; it returns that Store.
func indexedSeed(t *testing.T, r *registrytest.Registry, names ...string) Store {
	t.Helper()
	s := remoteStore(t, r)
	s.Index = indexKeyForTests
	c := startServe(t, s)
	id := int64(1)
	for _, n := range names {
		if res := c.get(id, actionID(n)); !res.Miss {
			t.Fatalf("get %s before its put: %+v", n, res)
		}
		if res := c.put(id+1, actionID(n), []byte("body of "+n)); res.Err != "" {
			t.Fatalf("put: %s", res.Err)
		}
		id += 2
	}
	if err := c.close(id); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	st, err := s.Upload(context.Background())
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if st.Entries != len(names) || st.Indexed != len(names) {
		t.Fatalf("Upload = %+v, want %d entries, all indexed", st, len(names))
	}
	if files := filesUnder(t, filepath.Join(s.Dir, usedDir)); len(files) != 0 {
		t.Errorf("used lists after Upload: %v", files)
	}
	return s
}

// readIndexForTest reads the index of indexKeyForTests from r directly.
func readIndexForTest(t *testing.T, r *registrytest.Registry) ([]string, error) {
	t.Helper()
	s := remoteStore(t, r)
	rc, err := newRemoteCache(s, func(error) {})
	if err != nil {
		t.Fatal(err)
	}
	return rc.readIndex(context.Background(), indexKeyForTests)
}

func hexIDs(names ...string) []string {
	var ids []string
	for _, n := range names {
		ids = append(ids, hex.EncodeToString(actionID(n)))
	}
	return ids
}

func TestIndexTag(t *testing.T) {
	tag := IndexTag(indexKeyForTests)
	if !strings.HasPrefix(tag, IndexTagPrefix) || len(tag) != len(IndexTagPrefix)+32 {
		t.Errorf("IndexTag = %q", tag)
	}
	if _, err := name.NewTag("localhost/cache/go:" + tag); err != nil {
		t.Errorf("IndexTag %q is no tag: %v", tag, err)
	}
	if IndexTag("a") == IndexTag("b") {
		t.Errorf("two keys share a tag")
	}
}

func TestPrefetchRoundTrip(t *testing.T) {
	r := registrytest.New(t, registrytest.Config{})
	names := []string{"c", "a", "b"}
	indexedSeed(t, r, names...)
	got, err := readIndexForTest(t, r)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(hexIDs(names...)) {
		t.Fatalf("index = %v, %v; want %v in that order", got, err, hexIDs(names...))
	}

	s := remoteStore(t, r)
	s.Index = indexKeyForTests
	st, err := s.Prefetch(context.Background())
	if err != nil {
		t.Fatalf("Prefetch: %v", err)
	}
	var want int64
	for _, n := range names {
		want += int64(len("body of " + n))
	}
	if st.Entries != 3 || st.Bytes != want {
		t.Errorf("Prefetch = %+v, want 3 entries, %d bytes", st, want)
	}
	// Everything is local now: the Serve asks Repo nothing.
	r.Reset()
	c := startServe(t, s)
	for i, n := range names {
		checkHit(t, c.get(int64(i+1), actionID(n)), []byte("body of "+n))
	}
	if err := c.close(9); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Requests()); n != 0 {
		t.Errorf("the Serve after Prefetch made %d requests: %+v", n, r.Requests())
	}
	// A second Prefetch reads the index and fetches nothing.
	r.Reset()
	if st, err := s.Prefetch(context.Background()); err != nil || st.Entries != 0 {
		t.Errorf("second Prefetch = %+v, %v", st, err)
	}
	if n := r.Count(registrytest.KindManifestRead); n != 1 {
		t.Errorf("second Prefetch read %d manifests, want the index's", n)
	}
	if notes := s.TakeNotes(); len(notes) != 0 {
		t.Errorf("notes: %q", notes)
	}
}

func TestPrefetchWithoutIndex(t *testing.T) {
	r := registrytest.New(t, registrytest.Config{})
	seed(t, r, map[string][]byte{"a": []byte("a")}) // uploaded without Index
	s := remoteStore(t, r)
	r.Reset()
	if st, err := s.Prefetch(context.Background()); err != nil || st.Entries != 0 {
		t.Errorf("Prefetch without Index = %+v, %v", st, err)
	}
	if n := len(r.Requests()); n != 0 {
		t.Errorf("Prefetch without Index made %d requests", n)
	}
	s.Index = indexKeyForTests
	if st, err := s.Prefetch(context.Background()); err != nil || st.Entries != 0 {
		t.Errorf("Prefetch with no index in Repo = %+v, %v", st, err)
	}
	if n := r.Count(registrytest.KindManifestRead) + r.Count(registrytest.KindBlobRead); n != 1 {
		t.Errorf("Prefetch with no index in Repo made %d reads, want 1: %+v", n, r.Requests())
	}
	if notes := s.TakeNotes(); len(notes) != 0 {
		t.Errorf("notes: %q", notes)
	}
	if st, err := (Store{Dir: t.TempDir(), Index: "x"}).Prefetch(context.Background()); err != nil || st.Entries != 0 {
		t.Errorf("Prefetch without Repo = %+v, %v", st, err)
	}
}

func TestPrefetchCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, r *registrytest.Registry)
		want  int    // entries fetched
		note  string // in the one note; "" for none
	}{
		{"index blob altered", func(_ *testing.T, r *registrytest.Registry) {
			r.Inject(registrytest.Fault{Method: http.MethodGet, Kind: registrytest.KindBlobRead, N: 1, Corrupt: true})
		}, 0, ""},
		{"index tag on an entry", func(t *testing.T, r *registrytest.Registry) {
			repo, err := name.NewRepository(r.Direct + "/cache/go")
			if err != nil {
				t.Fatal(err)
			}
			desc, err := remote.Get(repo.Tag(hex.EncodeToString(actionID("a"))))
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Put(repo.Tag(IndexTag(indexKeyForTests)), desc); err != nil {
				t.Fatal(err)
			}
		}, 0, ""},
		{"entry of another action", func(t *testing.T, r *registrytest.Registry) { retag(t, r, "b", "a") }, 2, ""},
		{"entry of the wrong size", func(t *testing.T, r *registrytest.Registry) {
			repo, err := name.NewRepository(r.Direct + "/cache/go")
			if err != nil {
				t.Fatal(err)
			}
			body := []byte("body of c")
			out := sha256.Sum256(body)
			m, err := entryManifest(entry{action: hex.EncodeToString(actionID("c")), output: hex.EncodeToString(out[:]), size: int64(len(body)) + 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Put(repo.Tag(hex.EncodeToString(actionID("c"))), rawManifest(m)); err != nil {
				t.Fatal(err)
			}
		}, 2, ""},
		{"500", func(_ *testing.T, r *registrytest.Registry) {
			r.Inject(registrytest.Fault{Status: http.StatusInternalServerError})
		}, 0, "500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := registrytest.New(t, registrytest.Config{})
			indexedSeed(t, r, "a", "b", "c")
			tc.spoil(t, r)
			s := remoteStore(t, r)
			s.Index = indexKeyForTests
			st, err := s.Prefetch(context.Background())
			if err != nil || st.Entries != tc.want {
				t.Errorf("Prefetch = %+v, %v; want %d entries", st, err, tc.want)
			}
			// What is local is whole: a local-only Serve answers it right.
			c := startServe(t, Store{Dir: s.Dir})
			for i, n := range []string{"a", "b", "c"} {
				if res := c.get(int64(i+1), actionID(n)); !res.Miss {
					checkHit(t, res, []byte("body of "+n))
				}
			}
			if err := c.close(9); err != nil {
				t.Fatal(err)
			}
			checkNotes(t, s.TakeNotes(), tc.note)
		})
	}
}

// TestUploadFailure: an Upload that the registry refuses keeps its
// markers and used lists for a later one, and puts no index.
func TestUploadFailure(t *testing.T) {
	r := registrytest.New(t, registrytest.Config{})
	s := remoteStore(t, r)
	s.Index = indexKeyForTests
	c := startServe(t, s)
	if res := c.put(1, actionID("a"), []byte("a")); res.Err != "" {
		t.Fatalf("put: %s", res.Err)
	}
	if err := c.close(2); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	r.RequireAuth("u", "p")
	if _, err := s.Upload(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Upload = %v, want a 401", err)
	}
	if files := filesUnder(t, filepath.Join(s.Dir, pendingDir)); len(files) != 1 {
		t.Errorf("markers after a failed Upload: %v, want the one", files)
	}
	if files := filesUnder(t, filepath.Join(s.Dir, usedDir)); len(files) != 1 {
		t.Errorf("used lists after a failed Upload: %v, want the one", files)
	}
	if _, err := readIndexForTest(t, r); err == nil {
		t.Errorf("a failed Upload put an index")
	}
	// Local-only Serves list nothing.
	local := Store{Dir: t.TempDir()}
	c = startServe(t, local)
	c.put(1, actionID("a"), []byte("a"))
	if err := c.close(2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(local.Dir, usedDir)); !os.IsNotExist(err) {
		t.Errorf("a local-only Serve wrote a used list: %v", err)
	}
}

func TestPrefetchCanceled(t *testing.T) {
	r := registrytest.New(t, registrytest.Config{})
	indexedSeed(t, r, "a", "b")
	s := remoteStore(t, r)
	s.Index = indexKeyForTests
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if st, err := s.Prefetch(ctx); err != nil || st.Entries != 0 {
		t.Errorf("Prefetch canceled = %+v, %v", st, err)
	}
	if notes := s.TakeNotes(); len(notes) != 0 {
		t.Errorf("notes: %q", notes)
	}
}
