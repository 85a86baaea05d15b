package publish_test

// This file holds the test registry: ggcr's in-process registry, reachable
// directly and through a middleware that records every request, injects
// faults, can demand basic auth, and can hold an upload until its client
// gives up. (internal/push/faults_test.go has a sibling that also answers
// cross-repository mounts.)

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
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
	Method, Kind string
	// Served is false when the middleware answered it itself: a fault,
	// missing credentials, or a held upload.
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

func (f *fault) spoils(method, kind string) bool {
	if (f.Method != "" && f.Method != method) || (f.Kind != "" && f.Kind != kind) || (f.N > 0 && f.seen >= f.N) {
		return false
	}
	f.seen++
	return true
}

// testRegistry is an in-process registry behind a recording middleware.
type testRegistry struct {
	// Host is the middleware's 127.0.0.1:PORT; Direct the registry's own,
	// which bypasses faults, auth and the record.
	Host, Direct string

	backend http.Handler
	stop    chan struct{} // closed at cleanup, releasing held requests

	mu         sync.Mutex
	reqs       []request
	faults     []*fault
	user, pass string
	held       chan struct{} // closed once an upload is held; nil for none
	holding    bool
}

// newTestRegistry starts a registry for the test's duration.
func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{
		backend: registry.New(registry.Logger(log.New(io.Discard, "", 0))),
		stop:    make(chan struct{}),
	}
	direct := httptest.NewServer(r.backend)
	t.Cleanup(direct.Close)
	proxied := httptest.NewServer(r)
	t.Cleanup(proxied.Close)
	t.Cleanup(func() { close(r.stop) }) // runs before the servers close
	r.Host = strings.TrimPrefix(proxied.URL, "http://")
	r.Direct = strings.TrimPrefix(direct.URL, "http://")
	return r
}

// inject adds a fault; the first one matching a request applies.
func (r *testRegistry) inject(f fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, &f)
}

// requireAuth makes every request need basic auth with user and pass.
func (r *testRegistry) requireAuth(user, pass string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user, r.pass = user, pass
}

// holdFirstUpload makes the middleware hold the first blob PATCH or PUT,
// unanswered, until its client goes away; the channel is closed once it is
// held.
func (r *testRegistry) holdFirstUpload() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = make(chan struct{})
	r.holding = true
	return r.held
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

// spoiled returns how many requests the middleware answered itself.
func (r *testRegistry) spoiled() int {
	n := 0
	for _, q := range r.requests() {
		if !q.Served {
			n++
		}
	}
	return n
}

// writes returns how many requests that change the registry were served.
func (r *testRegistry) writes() int {
	return r.count(kindUpload) + r.count(kindManifestDigest) + r.count(kindManifestTag)
}

// reset forgets the requests seen so far.
func (r *testRegistry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

var registryPath = regexp.MustCompile(`^/v2/(.+?)/(blobs|manifests|tags)/(.*)$`)

// classify returns the kind of req.
func classify(req *http.Request) string {
	if req.URL.Path == "/v2/" {
		return kindPing
	}
	m := registryPath.FindStringSubmatch(req.URL.Path)
	if m == nil {
		return kindOther
	}
	what, rest := m[2], m[3]
	switch {
	case what == "blobs" && strings.HasPrefix(rest, "uploads") && req.Method != http.MethodGet && req.Method != http.MethodHead:
		return kindUpload
	case what == "blobs":
		return kindBlobRead
	case what == "manifests" && req.Method == http.MethodPut && strings.HasPrefix(rest, "sha256:"):
		return kindManifestDigest
	case what == "manifests" && req.Method == http.MethodPut:
		return kindManifestTag
	}
	return kindOther
}

func (r *testRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rec := request{Method: req.Method, Kind: classify(req)}
	f, hold, authOK := r.decide(req, rec.Kind)
	rec.Served = f == nil && !hold && authOK
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()
	switch {
	case f != nil:
		spoil(w, f)
	case !authOK:
		w.Header().Set("WWW-Authenticate", `Basic realm="test registry"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	case hold:
		// Reading the body lets the server notice when the client goes.
		_, _ = io.Copy(io.Discard, req.Body)
		select {
		case <-req.Context().Done():
		case <-r.stop:
		}
	default:
		r.backend.ServeHTTP(w, req)
	}
}

// decide says how to answer req: with a fault, by holding it, or (when the
// credentials are right) by serving it.
func (r *testRegistry) decide(req *http.Request, kind string) (f *fault, hold, authOK bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.faults {
		if c.spoils(req.Method, kind) {
			f = c
			break
		}
	}
	u, p, ok := req.BasicAuth()
	authOK = r.user == "" || (ok && u == r.user && p == r.pass)
	if f == nil && authOK && r.holding && kind == kindUpload && (req.Method == http.MethodPatch || req.Method == http.MethodPut) {
		r.holding = false
		close(r.held)
		hold = true
	}
	return f, hold, authOK
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

// staticKeychain gives every registry the same authenticator.
type staticKeychain struct{ auth authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

// anonymous is the keychain of tests that need no credentials; it keeps the
// user's docker config out of them.
var anonymous = staticKeychain{authn.Anonymous}
