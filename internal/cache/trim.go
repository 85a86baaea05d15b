package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/buildercli/builder/internal/atomicfile"
)

// The cache keeps what runs use and forgets the rest, as the Go build
// cache does: what a run uses is marked (its time set, at most once per
// markInterval), and once per trimInterval a run that ends while no other
// uses the cache removes what no run used for trimAge: layers (of any
// compression settings, so those of older builders go too), the records
// that point at them, binaries of packages no longer built, and mount
// records. Bases, kept as an OCI layout, and the Go build cache (which
// trims itself) are left alone.
const (
	markInterval = time.Hour
	trimInterval = 24 * time.Hour
	trimAge      = 5 * 24 * time.Hour
	// A directory a killed run was writing is removed sooner.
	tmpAge = 24 * time.Hour
)

// mark records that path, a file or directory of the cache, was used now,
// unless it was less than markInterval ago. A failure only lets a trim
// remove it sooner.
func mark(path string, now time.Time) {
	if fi, err := os.Stat(path); err == nil && now.Sub(fi.ModTime()) >= markInterval {
		_ = os.Chtimes(path, now, now)
	}
}

// Use marks the cache in use until the returned function is called: a
// trim waits for a time when no run uses it. It takes a shared lock, so
// that runs use it together.
func (c Cache) Use() (func(), error) {
	if c.Dir == "" {
		return func() {}, nil
	}
	return flock(filepath.Join(c.Dir, ".use"), syscall.LOCK_SH)
}

// TrimIfDue trims the cache (see Trim) if its last trim was trimInterval
// ago or more and no run uses it now; it returns whether it did. A cache
// that cannot be trimmed is left as it is.
func (c Cache) TrimIfDue(now time.Time) (bool, error) {
	if c.Dir == "" {
		return false, nil
	}
	stamp := filepath.Join(c.Dir, "trim.txt")
	due := func() bool {
		fi, err := os.Lstat(stamp)
		return err != nil || now.Sub(fi.ModTime()) >= trimInterval
	}
	if !due() {
		return false, nil
	}
	unlock, err := flock(filepath.Join(c.Dir, ".use"), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil // another run uses it: a later run trims
	}
	if err != nil {
		return false, err
	}
	defer unlock()
	if !due() {
		return false, nil // another run trimmed it meanwhile
	}
	// Stamped first: a trim that fails is not tried again by every run.
	// A special file there is damage, replaced rather than opened.
	if err := atomicfile.ReplaceFile(stamp, []byte(now.UTC().Format(time.RFC3339)+"\n")); err != nil {
		return false, fmt.Errorf("trimming the cache %s: %w", c.Dir, err)
	}
	if err := os.Chtimes(stamp, now, now); err != nil {
		return false, fmt.Errorf("trimming the cache %s: %w", c.Dir, err)
	}
	return true, c.Trim(now)
}

// Trim removes from the cache what no run used for trimAge before now.
// It must run while no other run uses the cache (see Use).
func (c Cache) Trim(now time.Time) error {
	if c.Dir == "" {
		return nil
	}
	old := func(path string, age time.Duration) bool {
		fi, err := os.Lstat(path)
		return err == nil && now.Sub(fi.ModTime()) >= age
	}
	var errs []error
	remove := func(path string) {
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
		}
	}
	// Layers: an entry is marked by its meta.json; one without is half
	// written or half removed, and judged by its directory.
	for _, set := range entries(filepath.Join(c.Dir, "layers")) {
		left := 0
		for _, e := range entries(set) {
			switch base := filepath.Base(e); {
			case strings.HasPrefix(base, ".tmp-"):
				if old(e, tmpAge) {
					remove(e)
					continue
				}
			case old(filepath.Join(e, "meta.json"), trimAge),
				!exists(filepath.Join(e, "meta.json")) && old(e, trimAge):
				remove(e)
				continue
			}
			left++
		}
		if left == 0 && filepath.Base(set) != settings {
			remove(set) // an older builder's, now empty
		}
	}
	// Records: each names its use by its time.
	for _, dir := range []string{c.keys(), c.sub("lineage")} {
		for _, r := range entries(dir) {
			if old(r, trimAge) {
				remove(r)
			}
		}
	}
	for _, reg := range entries(c.Mounts()) {
		for _, r := range entries(reg) {
			if old(r, trimAge) {
				remove(r)
			}
		}
	}
	// Binaries: a directory per package and platform, marked when taken.
	for _, b := range entries(c.Binaries()) {
		if old(b, trimAge) {
			remove(b)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("trimming the cache %s: %w", c.Dir, err)
	}
	return nil
}

// entries returns the paths of what dir holds; none when it cannot be read.
func entries(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	paths := make([]string, len(ents))
	for i, e := range ents {
		paths[i] = filepath.Join(dir, e.Name())
	}
	return paths
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
