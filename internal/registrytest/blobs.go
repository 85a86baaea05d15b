package registrytest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// repoBlobs is a registry.BlobHandler that keeps each repository's blobs
// apart, as real registries do.
type repoBlobs struct {
	mu sync.Mutex
	m  map[string][]byte
}

// blobKey names repo's blob h. ggcr's registry names the repository of an
// upload's PATCH and PUT with a trailing "/blobs", which is dropped here.
func blobKey(repo string, h v1.Hash) string {
	return strings.TrimSuffix(repo, "/blobs") + "@" + h.String()
}

// Stat returns the size of repo's blob h.
func (b *repoBlobs) Stat(_ context.Context, repo string, h v1.Hash) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[blobKey(repo, h)]
	if !ok {
		return 0, registry.ErrNotFound
	}
	return int64(len(data)), nil
}

// Get returns repo's blob h.
func (b *repoBlobs) Get(_ context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[blobKey(repo, h)]
	if !ok {
		return nil, registry.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Put keeps rc as repo's blob h.
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

// mount answers a POST ?mount=DIGEST&from=REPO as a registry that supports
// mounts does, when REPO has the blob; it returns false to start an upload
// instead, as it always does when the registry shares blobs between
// repositories.
func (r *Registry) mount(w http.ResponseWriter, repo string, q url.Values) bool {
	if r.blobs == nil {
		return false
	}
	h, err := v1.NewHash(q.Get("mount"))
	if err != nil || q.Get("from") == "" || !r.blobs.copy(q.Get("from"), repo, h) {
		return false
	}
	w.Header().Set("Location", "/v2/"+repo+"/blobs/"+h.String())
	w.Header().Set("Docker-Content-Digest", h.String())
	w.WriteHeader(http.StatusCreated)
	return true
}
