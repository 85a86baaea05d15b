package gobuild

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Progress shows what the compiler does while a build runs long: the
// packages compiled so far (go build -v names each as it is compiled). On a
// terminal (Live) one line is redrawn, naming every build running at once,
// with the packages the build needs (go list -deps, asked once the build
// has run for Delay); elsewhere, as in CI, a plain line is written every
// Every, without the total, which would cost the compiler a core for a
// moment. A build shorter than Delay shows nothing.
type Progress struct {
	W    io.Writer
	Live bool
	// Delay is how long a build runs before it is shown; DefaultDelay
	// when 0. Every is the time between plain lines; DefaultEvery when 0.
	Delay, Every time.Duration

	mu     sync.Mutex
	active []*watcher
	drawn  bool
}

// Defaults of Progress.
const (
	DefaultDelay = 2 * time.Second
	DefaultEvery = 20 * time.Second
)

// watcher follows one go build: it counts the package names -v prints and
// keeps the rest of the output.
type watcher struct {
	p     *Progress
	what  string
	out   *bytes.Buffer
	start time.Time

	mu      sync.Mutex
	partial []byte
	done    int
	total   int // 0 until go list answered
	shown   bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// start returns the writer go build's output goes to, which keeps in out
// what is not a package name. With p nil, it only filters.
func (p *Progress) start(ctx context.Context, what, dir string, env, buildArgs, pkgs []string, out *bytes.Buffer) *watcher {
	w := &watcher{p: p, what: what, out: out, start: time.Now(), stop: make(chan struct{})}
	if p == nil {
		return w
	}
	w.wg.Add(1)
	go w.follow(ctx, dir, env, listArgs(buildArgs, pkgs))
	return w
}

// listArgs is the go list command line that names every package a build
// with buildArgs needs: its flags that choose files (-tags, -mod…), then
// the packages.
func listArgs(buildArgs, pkgs []string) []string {
	args := []string{"list", "-deps", "-e", "-f", "{{.ImportPath}}"}
	for _, a := range buildArgs {
		if strings.HasPrefix(a, "-tags=") || strings.HasPrefix(a, "-mod=") || strings.HasPrefix(a, "-modfile=") {
			args = append(args, a)
		}
	}
	return append(args, pkgs...)
}

// follow waits for the delay, asks go list for the total, and shows the
// build until it stops.
func (w *watcher) follow(ctx context.Context, dir string, env, list []string) {
	defer w.wg.Done()
	delay, every := w.p.Delay, w.p.Every
	if delay == 0 {
		delay = DefaultDelay
	}
	if every == 0 {
		every = DefaultEvery
	}
	select {
	case <-w.stop:
		return
	case <-time.After(delay):
	}
	if w.p.Live {
		// go list stops when the build does.
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-w.stop:
				cancel()
			case <-lctx.Done():
			}
		}()
		w.countTotal(lctx, dir, env, list)
		cancel()
	}
	w.p.add(w)
	tick := every
	if w.p.Live {
		tick = 250 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		w.p.show()
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

// countTotal asks go list how many packages the build needs. It costs
// the compiler a core for a moment, so only a terminal, where someone
// watches, gets it.
func (w *watcher) countTotal(ctx context.Context, dir string, env, list []string) {
	cmd := exec.CommandContext(ctx, "go", list...)
	cmd.Dir = dir
	// go list needs no build cache; a cache program of its own would
	// only slow it down beside the build.
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GOCACHEPROG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if out, err := cmd.Output(); err == nil {
		w.mu.Lock()
		w.total = bytes.Count(out, []byte("\n"))
		w.mu.Unlock()
	}
}

// finish stops following; a build that was shown gets a last line.
func (w *watcher) finish(ok bool) {
	if len(w.partial) > 0 {
		w.line(w.partial)
		w.partial = nil
	}
	close(w.stop)
	w.wg.Wait()
	if w.p != nil {
		w.p.remove(w, ok)
	}
}

// Write implements io.Writer: whole lines are sorted as they come.
func (w *watcher) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.line(w.partial[:i+1])
		w.partial = w.partial[i+1:]
	}
}

// line counts a package name; anything else is output.
func (w *watcher) line(l []byte) {
	s := strings.TrimSpace(string(l))
	if s != "" && !strings.ContainsAny(s, " \t:#") {
		w.mu.Lock()
		w.done++
		w.mu.Unlock()
		return
	}
	w.out.Write(l)
}

// status is the watcher's part of a progress line.
func (w *watcher) status() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.total > 0 {
		return fmt.Sprintf("%s %d/%d packages", w.what, min(w.done, w.total), w.total)
	}
	return fmt.Sprintf("%s %d packages", w.what, w.done)
}

func (p *Progress) add(w *watcher) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.shown = true
	p.active = append(p.active, w)
}

// show writes the state of every build shown.
func (p *Progress) show() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.active) == 0 {
		return
	}
	parts := make([]string, len(p.active))
	for i, w := range p.active {
		parts[i] = w.status()
	}
	line := "compiling " + strings.Join(parts, ", ")
	if p.Live {
		fmt.Fprintf(p.W, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	fmt.Fprintf(p.W, "%s (%s)\n", line, time.Since(p.active[0].start).Round(time.Second))
}

// remove ends w's part; a build that was shown says how it ended.
func (p *Progress) remove(w *watcher, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !w.shown {
		return
	}
	for i, a := range p.active {
		if a == w {
			p.active = append(p.active[:i], p.active[i+1:]...)
			break
		}
	}
	if p.drawn {
		fmt.Fprint(p.W, "\r\033[K")
		p.drawn = false
	}
	verb := "compiled"
	if !ok {
		verb = "stopped compiling"
	}
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	fmt.Fprintf(p.W, "%s %s: %d packages in %s\n", verb, w.what, done, time.Since(w.start).Round(100*time.Millisecond))
}
