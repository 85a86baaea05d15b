package registrytest

import (
	"io"
	"net/http"
)

// Inject adds a fault; the first one matching a request applies.
func (r *Registry) Inject(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, &f)
}

// RequireAuth makes every request need basic auth with user and pass.
func (r *Registry) RequireAuth(user, pass string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user, r.pass = user, pass
}

// HoldFirstUpload makes the middleware hold the first blob PATCH or PUT,
// unanswered, until its client goes away; the channel is closed once it is
// held.
func (r *Registry) HoldFirstUpload() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = make(chan struct{})
	r.holding = true
	return r.held
}

// ServeHTTP records req, then answers it with a fault, a demand for
// credentials, a held upload, a mount, or the registry's own answer.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	kind, repo := classify(req)
	rec := Request{Method: req.Method, Kind: kind, Repo: repo, Query: req.URL.Query()}
	f, hold, authOK := r.decide(req, kind)
	rec.Served = f == nil && !hold && authOK
	r.record(rec)
	switch {
	case f != nil:
		r.spoil(w, req, *f)
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
		if kind == KindUpload && req.Method == http.MethodPost && r.mount(w, repo, rec.Query) {
			return
		}
		r.backend.ServeHTTP(w, req)
	}
}

// decide says how to answer req: with a copy of a fault, by holding it, or
// (when the credentials are right) by serving it.
func (r *Registry) decide(req *http.Request, kind string) (f *Fault, hold, authOK bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.faults {
		if c.spoils(req.Method, kind, req.URL.Query().Get("digest")) {
			spoiled := *c
			f = &spoiled
			break
		}
	}
	u, p, ok := req.BasicAuth()
	authOK = r.user == "" || (ok && u == r.user && p == r.pass)
	if f == nil && authOK && r.holding && kind == KindUpload && (req.Method == http.MethodPatch || req.Method == http.MethodPut) {
		r.holding = false
		close(r.held)
		hold = true
	}
	return f, hold, authOK
}
