package build

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/buildercli/builder/internal/registry"
)

// WithScratch gives e a new scratch directory for what a run makes without
// a cache, its cache checked usable and marked in use, and its registry
// client told where the cache keeps mount sources; done removes the
// directory once the results are no longer used, and trims the cache when
// a trim is due (see cache.Cache.TrimIfDue).
func (e Env) WithScratch() (env Env, done func(), err error) {
	work, err := os.MkdirTemp("", "builder-")
	if err != nil {
		return e, nil, fmt.Errorf("making a build directory: %w", err)
	}
	e.Cache.Scratch = work
	e.Cache = e.Cache.Usable(e.Log)
	e.Registry.Mounts = registry.Mounts{Dir: e.Cache.Mounts()}
	// A cache this run cannot mark in use could only be trimmed of what
	// it has not used for days.
	release, err := e.Cache.Use()
	if err != nil {
		release = func() {}
	}
	return e, func() {
		_ = os.RemoveAll(work)
		release()
		if _, err := e.Cache.TrimIfDue(time.Now()); err != nil {
			fmt.Fprintf(e.Log, "note: %v\n", err)
		}
	}, nil
}

// ServiceScratch is e with a scratch directory of its own for the i-th of
// several services, under e's: binaries compiled without a cache are
// named by their service, and two may share a name.
func (e Env) ServiceScratch(i int) (Env, error) {
	e.Cache.Scratch = filepath.Join(e.Cache.Scratch, strconv.Itoa(i))
	if err := os.Mkdir(e.Cache.Scratch, 0o700); err != nil {
		return e, fmt.Errorf("making a build directory: %w", err)
	}
	return e, nil
}
