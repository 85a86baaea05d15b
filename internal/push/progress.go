package push

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/registry"
)

// Progress reports the upload of each layer: as a live table redrawn in
// place when Live (stderr is a terminal), else as one plain line per layer
// when it is done.
type Progress struct {
	W    io.Writer
	Live bool

	mu       sync.Mutex
	rows     []*row
	drawn    int
	lastDraw time.Time
}

type row struct {
	p      *Progress
	digest v1.Hash
	size   int64
	done   atomic.Int64
	state  string
}

// Layer adds a row for the layer d.
func (p *Progress) Layer(d v1.Hash, size int64) registry.LayerProgress {
	r := &row{p: p, digest: d, size: size, state: "waiting"}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rows = append(p.rows, r)
	return r
}

// Sent counts n more bytes of r sent.
func (r *row) Sent(n int64) {
	r.done.Add(n)
	p := r.p
	if !p.Live {
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

// Restart starts r's count again: its upload starts over.
func (r *row) Restart() { r.done.Store(0) }

// Done marks r done with a state such as "uploaded" or "exists".
func (r *row) Done(state string) {
	p := r.p
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
