package gocache

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// The GOCACHEPROG protocol, as cmd/go/internal/cacheprog defines it (Go
// 1.24 and later). That package is internal to the go command and no
// well-kept library offers these types, so they are defined here.

// Commands of the protocol.
const (
	cmdPut   = "put"
	cmdGet   = "get"
	cmdClose = "close"
)

// request is one message from the go command. A put with BodySize > 0 is
// followed by a line holding its body as a base64 JSON string.
type request struct {
	ID       int64
	Command  string
	ActionID []byte `json:",omitempty"`
	OutputID []byte `json:",omitempty"`
	BodySize int64  `json:",omitempty"`
}

// response answers the request of the same ID, in any order; the first
// one, of ID 0, lists the commands understood.
type response struct {
	ID            int64
	Err           string     `json:",omitempty"`
	KnownCommands []string   `json:",omitempty"`
	Miss          bool       `json:",omitempty"`
	OutputID      []byte     `json:",omitempty"`
	Size          int64      `json:",omitempty"`
	Time          *time.Time `json:",omitempty"`
	DiskPath      string     `json:",omitempty"`
}

// requestReader reads requests and streams their bodies.
type requestReader struct{ br *bufio.Reader }

func newRequestReader(r io.Reader) *requestReader {
	return &requestReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next request, skipping blank lines; io.EOF at the end.
func (r *requestReader) next() (*request, error) {
	for {
		line, err := r.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("reading a request: line longer than %d bytes", r.br.Size())
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			if err != nil {
				return nil, err
			}
			continue
		}
		var req request
		if jerr := json.Unmarshal(line, &req); jerr != nil {
			return nil, fmt.Errorf("reading a request: %w", jerr)
		}
		return &req, nil
	}
}

// body streams the base64 body that follows a put into w, and returns how
// many bytes it decoded.
func (r *requestReader) body(w io.Writer) (int64, error) {
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("reading a body: %w", err)
		}
		if c == '"' {
			break
		}
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return 0, fmt.Errorf("reading a body: want a JSON string, got %q", c)
		}
	}
	q := &quoted{br: r.br}
	n, err := io.Copy(w, base64.NewDecoder(base64.StdEncoding, q))
	if err != nil {
		return n, fmt.Errorf("reading a body: %w", err)
	}
	if !q.done {
		return n, fmt.Errorf("reading a body: %w", io.ErrUnexpectedEOF)
	}
	return n, nil
}

// quoted reads up to the closing quote of a JSON string, which it consumes.
type quoted struct {
	br   *bufio.Reader
	done bool
}

func (q *quoted) Read(p []byte) (int, error) {
	if q.done {
		return 0, io.EOF
	}
	if q.br.Buffered() == 0 {
		if _, err := q.br.Peek(1); err != nil {
			return 0, err
		}
	}
	b, _ := q.br.Peek(min(q.br.Buffered(), len(p)))
	if i := bytes.IndexByte(b, '"'); i >= 0 {
		n := copy(p, b[:i])
		_, _ = q.br.Discard(i + 1)
		q.done = true
		return n, nil
	}
	n := copy(p, b)
	_, _ = q.br.Discard(n)
	return n, nil
}

// responseWriter writes responses, one at a time, each flushed.
type responseWriter struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	enc *json.Encoder
}

func newResponseWriter(w io.Writer) *responseWriter {
	bw := bufio.NewWriter(w)
	return &responseWriter{bw: bw, enc: json.NewEncoder(bw)}
}

func (w *responseWriter) write(res *response) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Encode(res); err != nil {
		return fmt.Errorf("writing a response: %w", err)
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("writing a response: %w", err)
	}
	return nil
}
