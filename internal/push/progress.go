package push

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Progress reports the upload of each layer: as a live table redrawn in
// place when Live (stderr is a terminal), else as one plain line per layer
// when it is done. A nil *Progress reports nothing.
type Progress struct {
	W    io.Writer
	Live bool

	mu       sync.Mutex
	rows     []*row
	drawn    int
	lastDraw time.Time
}

type row struct {
	digest v1.Hash
	size   int64
	done   atomic.Int64
	state  string
}

func (p *Progress) add(d v1.Hash, size int64) *row {
	r := &row{digest: d, size: size, state: "waiting"}
	if p == nil {
		return r
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rows = append(p.rows, r)
	return r
}

// read counts n more bytes of r sent.
func (p *Progress) read(r *row, n int64) {
	r.done.Add(n)
	if p == nil || !p.Live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.state == "waiting" {
		r.state = "uploading"
	}
	if time.Since(p.lastDraw) > 100*time.Millisecond {
		p.draw()
	}
}

// finish marks r done with a state such as "uploaded" or "exists".
func (p *Progress) finish(r *row, state string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r.state = state
	if p.Live {
		p.draw()
		return
	}
	fmt.Fprintln(p.W, r.line())
}

func (p *Progress) draw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.W, "\x1b[%dA", p.drawn)
	}
	for _, r := range p.rows {
		fmt.Fprintf(p.W, "\x1b[2K%s\n", r.line())
	}
	p.drawn = len(p.rows)
	p.lastDraw = time.Now()
}

func (r *row) line() string {
	short := r.digest.Hex
	if len(short) > 12 {
		short = short[:12]
	}
	switch r.state {
	case "uploading":
		return fmt.Sprintf("layer %s %s/%s", short, human(r.done.Load()), human(r.size))
	case "uploaded":
		return fmt.Sprintf("layer %s %s uploaded", short, human(r.done.Load()))
	}
	return fmt.Sprintf("layer %s %s %s", short, human(r.size), r.state)
}

func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// counted wraps a layer so that the bytes read from Compressed are reported.
type counted struct {
	v1.Layer
	onRead func(int64)
}

func (c counted) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: rc, onRead: c.onRead}, nil
}

type countingReader struct {
	io.ReadCloser
	onRead func(int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	if n > 0 {
		c.onRead(int64(n))
	}
	return n, err
}
