package registrytest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Config says how a Registry differs from ggcr's plain in-process registry;
// the zero Config changes nothing.
type Config struct {
	// SeparateRepos keeps each repository's blobs apart, as real
	// registries do, and answers a cross-repository mount (POST
	// ?mount=DIGEST&from=REPO) when REPO has the blob. Otherwise every
	// repository sees every blob and a mount starts an upload.
	SeparateRepos bool
	// Referrers makes the registry serve the OCI referrers API.
	Referrers bool
}

// Registry is an in-process registry behind a middleware that records
// every request, injects faults, can demand basic auth, and can hold an
// upload until its client gives up.
type Registry struct {
	// Host is the middleware's 127.0.0.1:PORT; Direct the registry's own,
	// which bypasses faults, auth and the record.
	Host, Direct string

	backend         http.Handler
	blobs           *repoBlobs // nil when repositories share blobs
	proxied, direct *httptest.Server
	stop            chan struct{} // closed by Close, releasing held requests
	stopOnce        sync.Once

	mu         sync.Mutex
	reqs       []Request
	faults     []*Fault
	user, pass string
	held       chan struct{} // closed once an upload is held; nil for none
	holding    bool
}

// New starts a registry as c says, for the test's duration.
func New(t testing.TB, c Config) *Registry {
	t.Helper()
	opts := []registry.Option{registry.Logger(log.New(io.Discard, "", 0))}
	r := &Registry{stop: make(chan struct{})}
	if c.SeparateRepos {
		r.blobs = &repoBlobs{m: map[string][]byte{}}
		opts = append(opts, registry.WithBlobHandler(r.blobs))
	}
	if c.Referrers {
		opts = append(opts, registry.WithReferrersSupport(true))
	}
	r.backend = registry.New(opts...)
	r.direct = httptest.NewServer(r.backend)
	r.proxied = httptest.NewServer(r)
	t.Cleanup(r.Close)
	r.Host = strings.TrimPrefix(r.proxied.URL, "http://")
	r.Direct = strings.TrimPrefix(r.direct.URL, "http://")
	return r
}

// Close stops the registry, releasing any held upload: later requests to
// it fail. Closing it again does nothing.
func (r *Registry) Close() {
	r.stopOnce.Do(func() { close(r.stop) })
	r.proxied.Close()
	r.direct.Close()
}

// Repo names the repository path of the registry, behind the middleware.
func (r *Registry) Repo(t testing.TB, path string) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(r.Host + "/" + path)
	if err != nil {
		t.Fatalf("NewRepository(%q): %v", path, err)
	}
	return repo
}

// Push writes a (a v1.Image or v1.ImageIndex) to the registry as ref
// (REPO:TAG), bypassing the middleware, and returns its digest.
func (r *Registry) Push(t testing.TB, ref string, a any) v1.Hash {
	t.Helper()
	tag, err := name.NewTag(r.Direct + "/" + ref)
	if err != nil {
		t.Fatalf("NewTag: %v", err)
	}
	var d v1.Hash
	switch a := a.(type) {
	case v1.Image:
		err = remote.Write(tag, a, remote.WithAuth(authn.Anonymous))
		if err == nil {
			d, err = a.Digest()
		}
	case v1.ImageIndex:
		err = remote.WriteIndex(tag, a, remote.WithAuth(authn.Anonymous))
		if err == nil {
			d, err = a.Digest()
		}
	default:
		t.Fatalf("cannot push a %T", a)
	}
	if err != nil {
		t.Fatalf("pushing %s: %v", tag, err)
	}
	return d
}
