package main

import (
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"
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

// What the far registry adds: a round trip to a registry in another
// region, and the upload bandwidth of a CI runner.
const (
	farLatency = 20 * time.Millisecond
	farMbit    = 100
)

// farAway serves h as a registry far away: each request waits latency,
// and request bodies (uploads) share mbit megabits a second.
func farAway(h http.Handler, latency time.Duration, mbit float64) http.Handler {
	link := &bandwidth{perByte: time.Duration(float64(time.Second) * 8 / (mbit * 1e6))}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(latency)
		if r.Body != nil {
			r.Body = &slowBody{ReadCloser: r.Body, link: link}
		}
		h.ServeHTTP(w, r)
	})
}

// bandwidth is a link that carries one byte every perByte.
type bandwidth struct {
	perByte time.Duration
	mu      sync.Mutex
	free    time.Time // when the link is next free
}

// carry waits until n more bytes have crossed the link.
func (b *bandwidth) carry(n int) {
	b.mu.Lock()
	now := time.Now()
	if b.free.Before(now) {
		b.free = now
	}
	b.free = b.free.Add(time.Duration(n) * b.perByte)
	wait := b.free.Sub(now)
	b.mu.Unlock()
	time.Sleep(wait)
}

type slowBody struct {
	io.ReadCloser
	link *bandwidth
}

func (s *slowBody) Read(p []byte) (int, error) {
	if len(p) > 32<<10 {
		p = p[:32<<10]
	}
	n, err := s.ReadCloser.Read(p)
	s.link.carry(n)
	return n, err
}
