package registry

import (
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// uploads coordinates the pushes of one run: a blob that several
// repositories of one registry need (a base's layer) is sent by the first
// push that needs it; the others wait for that push and mount the blob
// from its repository, without waiting for anything else it sends.
type uploads struct {
	mu sync.Mutex
	m  map[string]*upload
	// ahead holds, by repository and blob, what a push of layers sent
	// ahead of their image (Session.SendLayers) did, for the image's own
	// push to count once, as its own.
	ahead map[string]layerResult
}

// upload is one blob's first push to a registry.
type upload struct {
	done chan struct{}
	// repo has the blob once done is closed; "" when that push failed.
	repo string
}

// begin returns the upload of d to repo's registry, and whether the caller
// is its first push, which must finish it. A nil uploads coordinates
// nothing.
func (u *uploads) begin(repo name.Repository, d v1.Hash) (up *upload, first bool) {
	if u == nil {
		return nil, false
	}
	key := repo.RegistryStr() + "\x00" + d.String()
	u.mu.Lock()
	defer u.mu.Unlock()
	if up, ok := u.m[key]; ok {
		return up, false
	}
	if u.m == nil {
		u.m = map[string]*upload{}
	}
	up = &upload{done: make(chan struct{})}
	u.m[key] = up
	return up, true
}

// finish says the first push is over: the blob is in repo when ok. When it
// failed, the upload is forgotten: the next push to begin the blob sends
// it, and the others wait for that one.
func (u *uploads) finish(up *upload, repo name.Repository, d v1.Hash, ok bool) {
	if ok {
		up.repo = repo.RepositoryStr()
	} else {
		u.mu.Lock()
		delete(u.m, repo.RegistryStr()+"\x00"+d.String())
		u.mu.Unlock()
	}
	close(up.done)
}

// sentAhead records what a push of d to repo sent ahead of its image did.
func (u *uploads) sentAhead(repo name.Repository, d v1.Hash, r layerResult) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ahead == nil {
		u.ahead = map[string]layerResult{}
	}
	u.ahead[repo.String()+"\x00"+d.String()] = r
}

// claim returns, once, what a push of d to repo sent ahead of its image
// did, for the image's push to count.
func (u *uploads) claim(repo name.Repository, d v1.Hash) (layerResult, bool) {
	if u == nil {
		return layerResult{}, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	key := repo.String() + "\x00" + d.String()
	r, ok := u.ahead[key]
	delete(u.ahead, key)
	return r, ok
}
