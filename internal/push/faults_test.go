package push

// This file holds the test registry: ggcr's in-process registry, keeping each
// repository's blobs apart as real registries do, behind a middleware that
// records every request, injects faults, can demand basic auth, and answers
// cross-repository mounts.

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Kinds of registry requests, as the middleware records them.
const (
	kindPing           = "ping"            // GET /v2/
	kindBlobRead       = "blob-read"       // HEAD or GET of a blob
	kindUpload         = "upload"          // POST, PATCH or PUT under /blobs/uploads/
	kindManifestDigest = "manifest-digest" // PUT of a manifest by digest
	kindManifestTag    = "manifest-tag"    // PUT of a manifest by tag
	kindOther          = "other"           // manifest reads, tag lists
)

// request is one request the middleware saw.
type request struct {
	Method, Kind, Repo string
	Query              url.Values
	// Served is false when the middleware answered it itself: a fault, or
	// missing credentials.
	Served bool
}

// fault spoils the requests it matches: the first N of them, or every one
// when N is 0.
type fault struct {
	Method, Kind string // what it matches; "" matches anything
	N            int
	// Status answers with this status (and Retry-After when set); 0 drops
	// the connection without an answer.
	Status     int
	RetryAfter string

	seen int
}

// spoils reports whether f applies to the next request of method and kind.
func (f *fault) spoils(method, kind string) bool {
	if (f.Method != "" && f.Method != method) || (f.Kind != "" && f.Kind != kind) || (f.N > 0 && f.seen >= f.N) {
		return false
	}
	f.seen++
	return true
}

// testRegistry is an in-process registry behind a recording middleware.
type testRegistry struct {
	// Host is the middleware's 127.0.0.1:PORT.
	Host    string
	blobs   *repoBlobs
	backend http.Handler

	mu         sync.Mutex
	reqs       []request
	faults     []*fault
	user, pass string
}

// newTestRegistry starts a registry for the test's duration.
func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	blobs := &repoBlobs{m: map[string][]byte{}}
	r := &testRegistry{
		blobs: blobs,
		backend: registry.New(registry.Logger(log.New(io.Discard, "", 0)),
			registry.WithBlobHandler(blobs)),
	}
	s := httptest.NewServer(r)
	t.Cleanup(s.Close)
	r.Host = strings.TrimPrefix(s.URL, "http://")
	return r
}

// requireAuth makes every request need basic auth with user and pass.
func (r *testRegistry) requireAuth(user, pass string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user, r.pass = user, pass
}

// inject adds a fault; the first one matching a request applies.
func (r *testRegistry) inject(f fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, &f)
}

// repo names repository path of the registry.
func (r *testRegistry) repo(t *testing.T, path string) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(r.Host + "/" + path)
	if err != nil {
		t.Fatalf("NewRepository(%q): %v", path, err)
	}
	return repo
}

// requests returns the requests seen since the last reset.
func (r *testRegistry) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

// count returns how many requests of kind were served since the last reset.
func (r *testRegistry) count(kind string) int {
	n := 0
	for _, q := range r.requests() {
		if q.Kind == kind && q.Served {
			n++
		}
	}
	return n
}

// reset forgets the requests seen so far.
func (r *testRegistry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

var registryPath = regexp.MustCompile(`^/v2/(.+?)/(blobs|manifests|tags)/(.*)$`)

// classify returns the kind and repository of req.
func classify(req *http.Request) (kind, repo string) {
	if req.URL.Path == "/v2/" {
		return kindPing, ""
	}
	m := registryPath.FindStringSubmatch(req.URL.Path)
	if m == nil {
		return kindOther, ""
	}
	repo, what, rest := m[1], m[2], m[3]
	switch {
	case what == "blobs" && strings.HasPrefix(rest, "uploads") && req.Method != http.MethodGet && req.Method != http.MethodHead:
		return kindUpload, repo
	case what == "blobs":
		return kindBlobRead, repo
	case what == "manifests" && req.Method == http.MethodPut && strings.HasPrefix(rest, "sha256:"):
		return kindManifestDigest, repo
	case what == "manifests" && req.Method == http.MethodPut:
		return kindManifestTag, repo
	}
	return kindOther, repo
}

func (r *testRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	kind, repo := classify(req)
	rec := request{Method: req.Method, Kind: kind, Repo: repo, Query: req.URL.Query()}
	if f := r.fault(req.Method, kind); f != nil {
		r.record(rec)
		spoil(w, f)
		return
	}
	r.mu.Lock()
	user, pass := r.user, r.pass
	r.mu.Unlock()
	if u, p, ok := req.BasicAuth(); user != "" && (!ok || u != user || p != pass) {
		r.record(rec)
		w.Header().Set("WWW-Authenticate", `Basic realm="test registry"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
		return
	}
	rec.Served = true
	r.record(rec)
	if kind == kindUpload && req.Method == http.MethodPost && r.mount(w, repo, rec.Query) {
		return
	}
	r.backend.ServeHTTP(w, req)
}

// fault returns the fault that spoils the next request of method and kind.
func (r *testRegistry) fault(method, kind string) *fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.faults {
		if f.spoils(method, kind) {
			f := *f
			return &f
		}
	}
	return nil
}

// spoil answers as f says: with its status, or by dropping the connection.
func spoil(w http.ResponseWriter, f *fault) {
	if f.Status != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.WriteHeader(f.Status)
		return
	}
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err) // an httptest server's HTTP/1 writer can always hijack
	}
	_ = conn.Close()
}

func (r *testRegistry) record(rec request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, rec)
}

// mount answers a POST ?mount=DIGEST&from=REPO as a registry that supports
// mounts does, when REPO has the blob; it returns false to start an upload
// instead.
func (r *testRegistry) mount(w http.ResponseWriter, repo string, q url.Values) bool {
	h, err := v1.NewHash(q.Get("mount"))
	if err != nil || q.Get("from") == "" || !r.blobs.copy(q.Get("from"), repo, h) {
		return false
	}
	w.Header().Set("Location", "/v2/"+repo+"/blobs/"+h.String())
	w.Header().Set("Docker-Content-Digest", h.String())
	w.WriteHeader(http.StatusCreated)
	return true
}

// repoBlobs is a registry.BlobHandler that keeps each repository's blobs.
type repoBlobs struct {
	mu sync.Mutex
	m  map[string][]byte
}

// blobKey names repo's blob h. ggcr's registry names the repository of an
// upload's PATCH and PUT with a trailing "/blobs", which is dropped here.
func blobKey(repo string, h v1.Hash) string {
	return strings.TrimSuffix(repo, "/blobs") + "@" + h.String()
}

func (b *repoBlobs) Stat(_ context.Context, repo string, h v1.Hash) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[blobKey(repo, h)]
	if !ok {
		return 0, registry.ErrNotFound
	}
	return int64(len(data)), nil
}

func (b *repoBlobs) Get(_ context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[blobKey(repo, h)]
	if !ok {
		return nil, registry.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (b *repoBlobs) Put(_ context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc) // the registry's reader checks the digest at EOF
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[blobKey(repo, h)] = data
	return nil
}

// copy gives to the blob h of from, and reports whether from had it.
func (b *repoBlobs) copy(from, to string, h v1.Hash) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[blobKey(from, h)]
	if ok {
		b.m[blobKey(to, h)] = data
	}
	return ok
}

// staticKeychain gives every registry the same authenticator.
type staticKeychain struct{ auth authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

// anonymous is the keychain of tests that need no credentials; it keeps the
// user's docker config out of them.
var anonymous = staticKeychain{authn.Anonymous}
