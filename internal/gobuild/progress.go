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
	"unicode/utf8"
)

// Progress shows what the compiler does while a build runs long: the
// packages compiled so far (go build -v names each as it is compiled). On a
// terminal (Live) one line is redrawn, naming every build running at once
// and, in a build of several services, each service, with the packages
// each needs (go list, asked once the build has run for Delay); elsewhere,
// as in CI, a plain line is written every Every, without the totals, which
// would cost the compiler a core for a moment. A build shorter than Delay
// shows nothing.
type Progress struct {
	W    io.Writer
	Live bool
	// Width, when set, is the terminal's: a live line is cut to fit, as
	// a line that wraps cannot be redrawn.
	Width int
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

// Unit is a main package a build links, as progress names it: Name in a
// line, ImportPath to find what it needs.
type Unit struct {
	Name, ImportPath string
}

// watcher follows one go build: it counts the package names -v prints and
// keeps the rest of the output.
type watcher struct {
	p     *Progress
	what  string
	units []Unit
	out   *bytes.Buffer
	start time.Time

	mu      sync.Mutex
	partial []byte
	done    int
	// On a terminal: the packages compiled so far, and what each unit
	// needs, itself included (nil until go list answered).
	compiled map[string]bool
	needs    []map[string]bool

	shown bool // guarded by p.mu

	stop chan struct{}
	wg   sync.WaitGroup
}

// start returns the writer go build's output goes to, which keeps in out
// what is not a package name. With p nil, it only filters. what names the
// build; units are the main packages it links, pkgs as go build is given
// them.
func (p *Progress) start(ctx context.Context, what string, units []Unit, dir string, env, buildArgs, pkgs []string, out *bytes.Buffer) *watcher {
	w := &watcher{p: p, what: what, units: units, out: out, start: time.Now(), stop: make(chan struct{})}
	if p == nil {
		return w
	}
	if p.Live {
		w.compiled = map[string]bool{}
	}
	w.wg.Add(1)
	go w.follow(ctx, dir, env, listArgs(buildArgs, pkgs))
	return w
}

// listArgs is the go list command line that prints, for each package a
// build with buildArgs links, its import path and those of every package
// it needs: the build's flags that choose files (-tags, -mod…), then the
// packages.
func listArgs(buildArgs, pkgs []string) []string {
	args := []string{"list", "-e", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}"}
	for _, a := range buildArgs {
		if strings.HasPrefix(a, "-tags=") || strings.HasPrefix(a, "-mod=") || strings.HasPrefix(a, "-modfile=") {
			args = append(args, a)
		}
	}
	return append(args, pkgs...)
}

// follow waits for the delay, asks go list what each unit needs (on a
// terminal), and shows the build until it stops.
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
		w.listNeeds(lctx, dir, env, list)
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

// listNeeds asks go list which packages each unit needs. It costs the
// compiler a core for a moment, so only a terminal, where someone watches,
// gets it.
func (w *watcher) listNeeds(ctx context.Context, dir string, env, list []string) {
	cmd := exec.CommandContext(ctx, "go", list...)
	cmd.Dir = dir
	// go list needs no build cache; a cache program of its own would
	// only slow it down beside the build.
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GOCACHEPROG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		return
	}
	// One line a package, in the order given; a unit is found by its
	// import path where it has one.
	var sets []map[string]bool
	byPath := map[string]map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			set := make(map[string]bool, len(f))
			for _, p := range f {
				set[p] = true
			}
			sets = append(sets, set)
			byPath[f[0]] = set
		}
	}
	if len(sets) != len(w.units) {
		return
	}
	needs := make([]map[string]bool, len(w.units))
	for i, u := range w.units {
		if needs[i] = sets[i]; u.ImportPath != "" {
			if needs[i] = byPath[u.ImportPath]; needs[i] == nil {
				return
			}
		}
	}
	w.mu.Lock()
	w.needs = needs
	w.mu.Unlock()
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
		if w.compiled != nil {
			w.compiled[s] = true
		}
		w.mu.Unlock()
		return
	}
	w.out.Write(l)
}

// status is the watcher's part of a progress line: the packages compiled,
// of those each unit needs once go list has answered.
func (w *watcher) status() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.needs == nil {
		return fmt.Sprintf("%s: %d packages", w.what, w.done)
	}
	parts := make([]string, len(w.units))
	for i, u := range w.units {
		done := 0
		for p := range w.compiled {
			if w.needs[i][p] {
				done++
			}
		}
		name := u.Name
		if len(w.units) == 1 {
			name = w.what
		}
		parts[i] = fmt.Sprintf("%s %d/%d", name, done, len(w.needs[i]))
	}
	return strings.Join(parts, ", ") + " packages"
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
	line := "compiling " + strings.Join(parts, "; ")
	if p.Live {
		fmt.Fprintf(p.W, "\r\033[K%s", fit(line, p.Width))
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

// fit cuts line to width-1 runes, ending it with "…"; a width under 2
// (none known) leaves it.
func fit(line string, width int) string {
	if width < 2 || utf8.RuneCountInString(line) < width {
		return line
	}
	r := []rune(line)
	return string(r[:width-2]) + "…"
}
