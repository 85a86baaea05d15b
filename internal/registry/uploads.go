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
}

// upload is one blob's first push to a registry.
type upload struct {
	done chan struct{}
	// repo has the blob once done is closed; "" when that push failed.
	repo string
	// ahead is what a push sent ahead of its image (Session.SendLayers)
	// did, for the image's own push to count once, as its own.
	ahead   *layerResult
	claimed bool
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

// finish says the first push is over: the blob is in repo when ok, and
// ahead, when set, is what a push sent ahead did. A push that failed
// leaves the others to send the blob themselves; a later push of it
// starts afresh.
func (u *uploads) finish(up *upload, repo name.Repository, d v1.Hash, ok bool, ahead *layerResult) {
	if ok {
		up.repo, up.ahead = repo.RepositoryStr(), ahead
	} else {
		u.mu.Lock()
		delete(u.m, repo.RegistryStr()+"\x00"+d.String())
		u.mu.Unlock()
	}
	close(up.done)
}

// claim returns, once, what the push sent ahead of its image did, for the
// image's push to count: the first to claim it gets it.
func (u *uploads) claim(up *upload) (layerResult, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if up.ahead == nil || up.claimed {
		return layerResult{}, false
	}
	up.claimed = true
	return *up.ahead, true
}
