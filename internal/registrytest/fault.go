package registrytest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
)

// Fault spoils the requests it matches: the first N of them, or every one
// when N is 0. It answers with Status, or as one of the other fields says;
// with none of them set, it drops the connection without an answer.
type Fault struct {
	// Method and Kind say what the fault matches; "" matches anything.
	Method, Kind string
	// Digest, when set, matches only requests that name this digest in
	// their query (a blob upload's closing PUT).
	Digest string
	// N is how many matching requests to spoil; 0 spoils them all.
	// The first Skip matching requests pass unspoilt.
	N, Skip int
	// Status answers with this status (and Retry-After when set).
	Status     int
	RetryAfter string
	// Stall sends the registry's own answer's headers and the first half
	// of its body, then nothing more until the client goes away.
	Stall bool
	// Oversize answers 200 with a body of this many bytes, streamed as it
	// is sent (so that it takes no memory here): a tag list that never
	// ends, of spaces after its opening. Its length is announced in
	// Content-Length unless Chunked.
	Oversize int64
	Chunked  bool
	// Corrupt sends the registry's own answer with one byte of its body
	// changed, its headers (Docker-Content-Digest included) as they were.
	Corrupt bool

	seen int
}

// spoils reports whether f applies to the next request of method and kind,
// naming digest in its query, and counts it when it does.
func (f *Fault) spoils(method, kind, digest string) bool {
	if (f.Method != "" && f.Method != method) || (f.Kind != "" && f.Kind != kind) || (f.Digest != "" && f.Digest != digest) {
		return false
	}
	if f.Skip > 0 {
		f.Skip--
		return false
	}
	if f.N > 0 && f.seen >= f.N {
		return false
	}
	f.seen++
	return true
}

// spoil answers req as f says.
func (r *Registry) spoil(w http.ResponseWriter, req *http.Request, f Fault) {
	switch {
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.WriteHeader(f.Status)
	case f.Stall:
		r.stall(w, req)
	case f.Oversize > 0:
		oversize(w, f.Oversize, f.Chunked)
	case f.Corrupt:
		corrupt(w, req, r.backend)
	default:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err) // an httptest server's HTTP/1 writer can always hijack
		}
		_ = conn.Close()
	}
}

// answer returns the registry's own answer to req.
func answer(backend http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	backend.ServeHTTP(rec, req)
	return rec
}

func (r *Registry) stall(w http.ResponseWriter, req *http.Request) {
	rec := answer(r.backend, req)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body[:len(body)/2])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	select {
	case <-req.Context().Done():
	case <-r.stop:
	}
}

func oversize(w http.ResponseWriter, size int64, chunked bool) {
	w.Header().Set("Content-Type", "application/json")
	if !chunked {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(http.StatusOK)
	head := []byte(`{"name":"app","tags":[`)
	if _, err := w.Write(head); err != nil {
		return
	}
	spaces := bytes.Repeat([]byte(" "), 64<<10)
	for left := size - int64(len(head)); left > 0; {
		n := min(left, int64(len(spaces)))
		if _, err := w.Write(spaces[:n]); err != nil {
			return // the client went away
		}
		left -= n
	}
}

func corrupt(w http.ResponseWriter, req *http.Request, backend http.Handler) {
	rec := answer(backend, req)
	body := bytes.Clone(rec.Body.Bytes())
	if len(body) > 0 {
		body[len(body)/2] ^= 0x01
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = io.Copy(w, bytes.NewReader(body))
}
