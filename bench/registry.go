package main

import (
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
)

// uploadCounter counts the blob bytes a registry receives, by repository.
type uploadCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (u *uploadCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodPatch || r.Method == http.MethodPut || r.Method == http.MethodPost) &&
			strings.Contains(r.URL.Path, "/blobs/uploads/") {
			repo := strings.TrimPrefix(r.URL.Path[:strings.Index(r.URL.Path, "/blobs/uploads/")], "/v2/")
			r.Body = &countingBody{ReadCloser: r.Body, add: func(n int) { u.add(repo, n) }}
		}
		h.ServeHTTP(w, r)
	})
}

func (u *uploadCounter) add(repo string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n == nil {
		u.n = map[string]int64{}
	}
	u.n[repo] += int64(n)
}

func (u *uploadCounter) reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.n = map[string]int64{}
}

// bytes is what repo and the repositories under it received.
func (u *uploadCounter) bytes(repo string) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var n int64
	for r, b := range u.n {
		if r == repo || strings.HasPrefix(r, repo+"/") {
			n += b
		}
	}
	return n
}

type countingBody struct {
	io.ReadCloser
	add func(int)
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.add(n)
	return n, err
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
