package pipeline

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/gocache"
)

// goCache is the Go build cache a run shares through a registry
// repository (--cache-repo): checked while the run plans, used by go
// build through its cache program, and fed with the new outputs after.
type goCache struct {
	store   gocache.Store
	checked chan error
}

// startGoCache starts checking the shared Go build cache at repo; nil when
// repo is "". env must have its scratch directory.
func startGoCache(ctx context.Context, repo string, env build.Env) *goCache {
	if repo == "" {
		return nil
	}
	dir := env.Cache.GoBuild()
	if dir == "" {
		dir = filepath.Join(env.Cache.Scratch, "gocache")
	}
	g := &goCache{store: gocache.Store{Dir: dir, Repo: repo, Registry: env.Registry}, checked: make(chan error, 1)}
	go func() { g.checked <- g.store.Check(ctx) }()
	return g
}

// program waits for the check and returns the GOCACHEPROG go build runs
// with: the shared cache when it answered, else the local one alone, with
// one note; "" without a shared cache.
func (g *goCache) program(env build.Env) string {
	if g == nil {
		return ""
	}
	if err := <-g.checked; err != nil {
		fmt.Fprintf(env.Log, "note: compiling without the shared Go build cache: %v\n", err)
		g.store.Repo = ""
	}
	return gocache.Command(env.Self, g.store, env.Registry.Insecure)
}

// share prints what the cache program noted, and starts uploading the
// outputs the build made; the returned function waits for the upload and
// says how it went. A failed upload only costs the next runner its hits.
func (g *goCache) share(ctx context.Context, env build.Env) func() {
	if g == nil {
		return func() {}
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
