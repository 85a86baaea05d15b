package gocache

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// remoteStore is a Store on a new Dir that shares entries through repo
// of r, anonymously.
func remoteStore(t *testing.T, r *registrytest.Registry) Store {
	t.Helper()
	return Store{Dir: t.TempDir(), Repo: r.Host + "/cache/go", Registry: registry.Client{Keychain: registrytest.Anonymous}}
}

// seed puts bodies under actions in a Store of r, and uploads them.
func seed(t *testing.T, r *registrytest.Registry, bodies map[string][]byte) {
	t.Helper()
	s := remoteStore(t, r)
	c := startServe(t, s)
	id := int64(1)
	for a, body := range bodies {
		if res := c.put(id, actionID(a), body); res.Err != "" {
			t.Fatalf("put: %s", res.Err)
		}
		id++
	}
	if err := c.close(id); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	stats, err := s.Upload(context.Background())
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if stats.Entries != len(bodies) {
		t.Fatalf("Upload sent %d entries, want %d", stats.Entries, len(bodies))
	}
}

func TestRemoteRoundTrip(t *testing.T) {
	r := registrytest.New(t, registrytest.Config{})
	body := []byte("shared output")
	seed(t, r, map[string][]byte{"a": body, "same output": body})

	// The entry's manifest is the documented format.
	repo, err := name.NewRepository(r.Direct + "/cache/go")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(repo.Tag(hex.EncodeToString(actionID("a"))))
	if err != nil {
		t.Fatalf("reading the entry: %v", err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	out, size, ok := parseEntryManifest(desc.Manifest, hex.EncodeToString(actionID("a")))
	if !ok || size != int64(len(body)) || m.Config.MediaType != emptyMediaType || m.Config.Size != 2 {
		t.Fatalf("entry manifest %s: output %s, size %d, ok %v", desc.Manifest, out, size, ok)
	}

	s := remoteStore(t, r)
	c := startServe(t, s)
	r.Reset()
	checkHit(t, c.get(1, actionID("a")), body)
	if got := r.Count(registrytest.KindManifestRead) + r.Count(registrytest.KindBlobRead); got != 2 {
		t.Errorf("a remote get made %d manifest and blob requests, want 2: %+v", got, r.Requests())
	}
	// Then it is local: no more requests.
	r.Reset()
	checkHit(t, c.get(2, actionID("a")), body)
	if reqs := r.Requests(); len(reqs) != 0 {
		t.Errorf("a second get went to the registry: %+v", reqs)
	}
	// Another action of the same output costs its manifest alone.
	checkHit(t, c.get(3, actionID("same output")), body)
	if m, b := r.Count(registrytest.KindManifestRead), r.Count(registrytest.KindBlobRead); m != 1 || b != 0 {
		t.Errorf("a remote get of a local output made %d manifest and %d blob requests, want 1 and 0", m, b)
	}
	if err := c.close(4); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// What came from Repo is not uploaded again.
	if stats, err := s.Upload(context.Background()); err != nil || stats.Entries != 0 {
		t.Errorf("Upload = %+v, %v; want nothing sent", stats, err)
	}
	if notes := s.TakeNotes(); len(notes) != 0 {
		t.Errorf("notes: %q", notes)
	}
}

func TestRemoteBadEntryIsMiss(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, r *registrytest.Registry)
	}{
		{"absent", func(*testing.T, *registrytest.Registry) {}},
		{"blob altered", func(_ *testing.T, r *registrytest.Registry) {
			r.Inject(registrytest.Fault{Method: http.MethodGet, Kind: registrytest.KindBlobRead, N: 1, Corrupt: true})
		}},
		{"manifest of another action", func(t *testing.T, r *registrytest.Registry) {
			retag(t, r, "other", "a")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := registrytest.New(t, registrytest.Config{})
			bodies := map[string][]byte{"other": []byte("other output")}
			if tc.name != "absent" {
				bodies["a"] = []byte("the output")
			}
			seed(t, r, bodies)
			tc.spoil(t, r)
			s := remoteStore(t, r)
			c := startServe(t, s)
			if res := c.get(1, actionID("a")); !res.Miss {
				t.Fatalf("get answered %+v, want a miss", res)
			}
			// A bad entry is no failure of the registry: it stays on.
			if res := c.get(2, actionID("other")); res.Miss {
				t.Errorf("get of a good entry after a bad one missed")
			}
			if err := c.close(3); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if _, ok := (disk{dir: s.Dir}).lookup(hex.EncodeToString(actionID("a"))); ok {
				t.Errorf("a bad entry was kept")
			}
			for _, f := range filesUnder(t, filepath.Join(s.Dir, outputsDir)) {
				if b, _ := os.ReadFile(f); string(b) != "other output" {
					t.Errorf("kept %s: %q", f, b)
				}
			}
			if notes := s.TakeNotes(); len(notes) != 0 {
				t.Errorf("notes: %q", notes)
			}
		})
	}
}

// retag points the tag of action to at the manifest of action from.
func retag(t *testing.T, r *registrytest.Registry, from, to string) {
	t.Helper()
	repo, err := name.NewRepository(r.Direct + "/cache/go")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(repo.Tag(hex.EncodeToString(actionID(from))))
	if err != nil {
		t.Fatalf("reading %s: %v", from, err)
	}
	if err := remote.Put(repo.Tag(hex.EncodeToString(actionID(to))), desc); err != nil {
		t.Fatalf("retagging: %v", err)
	}
}

func TestRemoteFailureTurnsRepoOff(t *testing.T) {
	defer func(d time.Duration) { RequestTimeout = d }(RequestTimeout)
	RequestTimeout = time.Second
	for _, tc := range []struct {
		name  string
		spoil func(r *registrytest.Registry)
		want  string
	}{
		{"down", func(r *registrytest.Registry) { r.Close() }, "cannot reach registry"},
		{"401", func(r *registrytest.Registry) { r.RequireAuth("u", "p") }, "401"},
		{"500", func(r *registrytest.Registry) { r.Inject(registrytest.Fault{Status: http.StatusInternalServerError}) }, "500"},
		{"stalled", func(r *registrytest.Registry) {
			r.Inject(registrytest.Fault{Kind: registrytest.KindManifestRead, Stall: true})
		}, "deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := registrytest.New(t, registrytest.Config{})
			seed(t, r, map[string][]byte{"a": []byte("the output"), "b": []byte("b's")})
			tc.spoil(r)
			s := remoteStore(t, r)
			c := startServe(t, s)
			start := time.Now()
			if res := c.get(1, actionID("a")); !res.Miss || res.Err != "" {
				t.Fatalf("get answered %+v, want a miss", res)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the failing get took %v", d)
			}
			r.Reset()
			if res := c.get(2, actionID("b")); !res.Miss {
				t.Fatalf("get answered %+v, want a miss", res)
			}
			if reqs := r.Requests(); len(reqs) != 0 {
				t.Errorf("Repo is still asked after a failure: %+v", reqs)
			}
			// Local work goes on.
			if res := c.put(3, actionID("c"), []byte("c's")); res.Err != "" || res.DiskPath == "" {
				t.Fatalf("put answered %+v", res)
			}
			if err := c.close(4); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			notes := s.TakeNotes()
			t.Logf("notes: %q", notes)
			if len(notes) != 1 || !strings.Contains(notes[0], tc.want) || strings.Contains(notes[0], "\n") {
				t.Errorf("notes = %q, want one line mentioning %q", notes, tc.want)
			}
			if again := s.TakeNotes(); len(again) != 0 {
				t.Errorf("notes taken twice: %q", again)
			}
		})
	}
}

func TestRemoteFailureNoteTurnsLaterServesOff(t *testing.T) {
	r := registrytest.New(t, registrytest.Config{})
	seed(t, r, map[string][]byte{"a": []byte("the output")})
	s := remoteStore(t, r)
	r.Inject(registrytest.Fault{N: 1, Status: http.StatusServiceUnavailable})
	c := startServe(t, s)
	if res := c.get(1, actionID("a")); !res.Miss {
		t.Fatalf("get answered %+v, want a miss", res)
	}
	if err := c.close(2); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// The next go command of the build does not ask Repo.
	r.Reset()
	c = startServe(t, s)
	if res := c.get(1, actionID("a")); !res.Miss {
		t.Fatalf("get answered %+v, want a miss", res)
	}
	if err := c.close(2); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if reqs := r.Requests(); len(reqs) != 0 {
		t.Errorf("a Serve after a failure asked Repo: %+v", reqs)
	}
	if notes := s.TakeNotes(); len(notes) != 1 {
		t.Fatalf("notes = %q, want one", notes)
	}
	// Once the note is taken, Repo is asked again.
	c = startServe(t, s)
	checkHit(t, c.get(1, actionID("a")), []byte("the output"))
	if err := c.close(2); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestRunsSharingDirKeepApart: two runs at once on one Dir share its
// entries, but one's failure note neither turns the other's Repo off nor
// reaches its TakeNotes, and each Upload indexes only what its own run
// used.
func TestRunsSharingDirKeepApart(t *testing.T) {
	r := registrytest.New(t, registrytest.Config{})
	seed(t, r, map[string][]byte{"a": []byte("the output")})
	a, b := remoteStore(t, r), remoteStore(t, r)
	b.Dir = a.Dir
	a.Run, b.Run = "aa01", "bb02"
	a.Index, b.Index = "kind a", "kind b"

	// a finds Repo failing and leaves its note.
	r.Inject(registrytest.Fault{N: 1, Status: http.StatusServiceUnavailable})
	c := startServe(t, a)
	if res := c.get(1, actionID("a")); !res.Miss {
		t.Fatalf("get answered %+v, want a miss", res)
	}
	if err := c.close(2); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// b still asks Repo, and uses "a" and "b2"; a uses "a1".
	c = startServe(t, b)
	checkHit(t, c.get(1, actionID("a")), []byte("the output"))
	if res := c.put(2, actionID("b2"), []byte("b's output")); res.Err != "" {
		t.Fatalf("put: %s", res.Err)
	}
	if err := c.close(3); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	c = startServe(t, a)
	if res := c.put(1, actionID("a1"), []byte("a's output")); res.Err != "" {
		t.Fatalf("put: %s", res.Err)
	}
	if err := c.close(2); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if notes := b.TakeNotes(); len(notes) != 0 {
		t.Errorf("b took a's notes: %q", notes)
	}
	if notes := a.TakeNotes(); len(notes) != 1 {
		t.Errorf("a's notes = %q, want its one", notes)
	}
	if _, err := b.Upload(context.Background()); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if _, err := a.Upload(context.Background()); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	for _, tc := range []struct {
		s    Store
		want []string
	}{{a, hexIDs("a", "a1")}, {b, hexIDs("a", "b2")}} {
		rc, err := newRemoteCache(remoteStore(t, r), func(error) {})
		if err != nil {
			t.Fatal(err)
		}
		got, err := rc.readIndex(context.Background(), tc.s.Index)
		if err != nil {
			t.Fatalf("reading the index of %s: %v", tc.s.Run, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("run %s indexed %v, want %v", tc.s.Run, got, tc.want)
		}
	}
}

// checkNotes fails t unless notes are none when want is "", else one that
// mentions want.
func checkNotes(t *testing.T, notes []string, want string) {
	t.Helper()
	switch {
	case want == "" && len(notes) != 0:
		t.Errorf("notes = %q, want none", notes)
	case want != "" && (len(notes) != 1 || !strings.Contains(notes[0], want)):
		t.Errorf("notes = %q, want one mentioning %q", notes, want)
	}
}
