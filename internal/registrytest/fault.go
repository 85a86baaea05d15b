package registrytest

import "net/http"

// Fault spoils the requests it matches: the first N of them, or every one
// when N is 0.
type Fault struct {
	// Method and Kind say what the fault matches; "" matches anything.
	Method, Kind string
	// N is how many matching requests to spoil; 0 spoils them all.
	N int
	// Status answers with this status (and Retry-After when set); 0 drops
	// the connection without an answer.
	Status     int
	RetryAfter string

	seen int
}

// spoils reports whether f applies to the next request of method and kind,
// and counts it when it does.
func (f *Fault) spoils(method, kind string) bool {
	if (f.Method != "" && f.Method != method) || (f.Kind != "" && f.Kind != kind) || (f.N > 0 && f.seen >= f.N) {
		return false
	}
	f.seen++
	return true
}

// spoil answers as f says: with its status, or by dropping the connection.
func spoil(w http.ResponseWriter, f Fault) {
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
