package registry

import (
	"context"
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
	// ahead holds, by repository and blob, the pushes of layers sent
	// ahead of their image (Session.SendLayers), for the image's own push
	// to wait for and count once, as its own.
	ahead map[string]*sentAhead
}

// sentAhead is one layer's push ahead of its image.
type sentAhead struct {
	done chan struct{}
	// r is what the push did, once done is closed; ok is false when it
	// failed or sent nothing of its own.
	r  layerResult
	ok bool
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
	key := uploadKey(repo, d)
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
		delete(u.m, uploadKey(repo, d))
		u.mu.Unlock()
	}
	close(up.done)
}

// startAhead records that d is being pushed to repo ahead of its image,
// and returns that push for endAhead, or nil when another push ahead of
// an image already sends d there.
func (u *uploads) startAhead(repo name.Repository, d v1.Hash) *sentAhead {
	key := aheadKey(repo, d)
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.ahead[key]; ok {
		return nil
	}
	if u.ahead == nil {
		u.ahead = map[string]*sentAhead{}
	}
	p := &sentAhead{done: make(chan struct{})}
	u.ahead[key] = p
	return p
}

// endAhead says what the push ahead p of d to repo did; ok is false when
// it failed or sent nothing of its own, and then nothing is claimed.
func (u *uploads) endAhead(p *sentAhead, repo name.Repository, d v1.Hash, r layerResult, ok bool) {
	if !ok {
		key := aheadKey(repo, d)
		u.mu.Lock()
		if u.ahead[key] == p {
			delete(u.ahead, key)
		}
		u.mu.Unlock()
	}
	p.r, p.ok = r, ok
	close(p.done)
}

// uploadKey names the upload of d to repo's registry.
func uploadKey(repo name.Repository, d v1.Hash) string {
	return repo.RegistryStr() + "\x00" + d.String()
}

// aheadKey names the push of d to repo ahead of its image.
func aheadKey(repo name.Repository, d v1.Hash) string {
	return repo.String() + "\x00" + d.String()
}

// claim returns, once, what a push of d to repo ahead of its image did,
// for the image's push to count; it waits for that push when it is under
// way.
func (u *uploads) claim(ctx context.Context, repo name.Repository, d v1.Hash) (layerResult, bool, error) {
	if u == nil {
		return layerResult{}, false, nil
	}
	key := aheadKey(repo, d)
	u.mu.Lock()
	p := u.ahead[key]
	u.mu.Unlock()
	if p == nil {
		return layerResult{}, false, nil
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return layerResult{}, false, ctx.Err()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !p.ok || u.ahead[key] != p {
		return layerResult{}, false, nil
	}
	delete(u.ahead, key)
	return p.r, true, nil
}
