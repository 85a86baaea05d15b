package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/gocache"
	"github.com/buildercli/builder/internal/source"
)

// GoCache is the Go build cache a run shares through a registry
// repository (--cache-repo): checked while the run plans, its entries for
// this kind of build fetched ahead of the compiler, used by go build
// through its cache program, and fed with the new outputs after. A nil
// GoCache is none: its methods do nothing. Build and publish use it, and
// so do the later stages that compile (resolve): CheckCacheRepo first,
// then StartGoCache before planning, Program for build.All, Share once
// compiled, and Cancel when the run returns.
type GoCache struct {
	store    gocache.Store
	prog     string // GOCACHEPROG, once checked
	checked  chan error
	stop     context.CancelFunc
	prefetch chan prefetched
}

type prefetched struct {
	st  gocache.PrefetchStats
	err error
}

// CheckCacheRepo checks the --cache-repo name repo ("" for none) and that
// env.Self can serve it, before anything is read or built.
func CheckCacheRepo(repo string, env build.Env) error {
	return Options{CacheRepo: repo}.checkCacheRepo(env)
}

// StartGoCache starts checking the shared Go build cache at repo, then
// prefetching the entries the last build of srcs for platform used; nil
// when repo is "". env must have its scratch directory.
func StartGoCache(ctx context.Context, repo string, srcs []source.Package, platform string, env build.Env) *GoCache {
	if repo == "" {
		return nil
	}
	dir := env.Cache.GoBuild()
	if dir == "" {
		dir = filepath.Join(env.Cache.Scratch, "gocache")
	}
	// The run's own name keeps its notes and lists of used actions apart
	// from those of other runs sharing dir.
	var run [8]byte
	_, _ = rand.Read(run[:])
	g := &GoCache{
		store: gocache.Store{Dir: dir, Repo: repo, Registry: env.Registry, Index: indexKey(srcs, platform, env.HostArch),
			Run: hex.EncodeToString(run[:])},
		checked:  make(chan error, 1),
		prefetch: make(chan prefetched, 1),
	}
	ctx, g.stop = context.WithCancel(ctx)
	go func() {
		var err error
		g.prog, err = gocache.Command(env.Self, g.store, env.Registry.Insecure)
		if err == nil {
			err = goCacheProgSupported(ctx, env)
		}
		if err == nil {
			err = g.store.Check(ctx)
		}
		g.checked <- err
		if err != nil {
			g.prefetch <- prefetched{}
			return
		}
		st, err := g.store.Prefetch(ctx)
		g.prefetch <- prefetched{st, err}
	}()
	return g
}

// indexKey names the kind of build whose entries a runner prefetches: its
// packages and platforms (as asked, and the host's, which the default and
// "all" depend on).
func indexKey(srcs []source.Package, platform, hostArch string) string {
	paths := make([]string, len(srcs))
	for i, s := range srcs {
		paths[i] = s.ImportPath
	}
	slices.Sort(paths)
	return strings.Join(paths, " ") + " for " + platform + " on " + hostArch
}

// goCacheProgSupported checks that the go command takes GOCACHEPROG: Go
// 1.24 or later (older ones ignore it without a word).
func goCacheProgSupported(ctx context.Context, env build.Env) error {
	cmd := exec.CommandContext(ctx, "go", "env", "GOVERSION")
	cmd.Env = env.Environ
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("asking go for its version: %w", err)
	}
	v := strings.TrimSpace(string(out))
	var major, minor int
	if _, err := fmt.Sscanf(v, "go%d.%d", &major, &minor); err != nil || major == 1 && minor < 24 {
		return fmt.Errorf("%s does not take a cache program (GOCACHEPROG needs Go 1.24 or later)", v)
	}
	return nil
}

// Cancel stops what the cache still does for a run that ends early.
func (g *GoCache) Cancel() {
	if g != nil {
		g.stop()
	}
}

// Program waits for the check and returns the GOCACHEPROG go build runs
// with: the shared cache when it answered; else "", go's own cache, with
// one note.
func (g *GoCache) Program(env build.Env) string {
	if g == nil {
		return ""
	}
	if err := <-g.checked; err != nil {
		fmt.Fprintf(env.Log, "note: compiling without the shared Go build cache: %v\n", err)
		g.store.Repo = ""
		return ""
	}
	return g.prog
}

// Share ends the prefetch, prints what the cache noted, and starts
// uploading the outputs the build made and the index of what it used; the
// returned function waits for the upload and says how it went. A failed
// upload only costs the next runner its hits.
func (g *GoCache) Share(ctx context.Context, env build.Env) func() {
	if g == nil {
		return func() {}
	}
	// What the compiler did not ask for by now, it did not need.
	g.stop()
	p := <-g.prefetch
	switch {
	case p.err != nil:
		fmt.Fprintf(env.Log, "note: fetching Go build outputs ahead of the compiler: %v\n", p.err)
	case p.st.Entries > 0:
		fmt.Fprintf(env.Log, "fetched %d Go build outputs (%d bytes) from %s in %s\n",
			p.st.Entries, p.st.Bytes, g.store.Repo, p.st.Took.Round(time.Millisecond))
	}
	notes := g.store.TakeNotes()
	for _, n := range notes {
		fmt.Fprintf(env.Log, "note: %s\n", n)
	}
	if g.store.Repo == "" || len(notes) > 0 {
		// The registry failed the build: the new outputs wait for the
		// next run's upload.
		return func() {}
	}
	done := make(chan struct{})
	var st gocache.UploadStats
	var err error
	go func() {
		defer close(done)
		st, err = g.store.Upload(ctx)
	}()
	return func() {
		<-done
		switch {
		case err != nil:
			fmt.Fprintf(env.Log, "note: sharing the new Go build outputs: %v\n", err)
		case st.Entries > 0:
			fmt.Fprintf(env.Log, "shared %d new Go build outputs (%d bytes) through %s\n", st.Entries, st.Bytes, g.store.Repo)
		}
	}
}
