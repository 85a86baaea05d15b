package gocache

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Expiry of local entries.
const (
	trimUnused = 5 * 24 * time.Hour // an entry unused this long goes
	trimEvery  = 24 * time.Hour     // how often a trim runs
	tmpMaxAge  = time.Hour          // a temporary file this old was abandoned
)

// trimDaily removes entries unused for trimUnused, at most once every
// trimEvery. Whatever fails is left for the next trim: a cache that is too
// full is no error.
func (d disk) trimDaily(now time.Time) {
	stamp := filepath.Join(d.dir, trimFile)
	if fi, err := os.Stat(stamp); err == nil && now.Sub(fi.ModTime()) < trimEvery {
		return
	}
	// Claim the trim first, so that concurrent closes do not all walk.
	if writeAtomic(stamp, []byte(now.UTC().Format(time.RFC3339)+"\n")) != nil {
		return
	}
	d.trim(now)
}

// trim removes actions and outputs unused since now-trimUnused, markers,
// notes and lists of used actions as old (no Upload or TakeNotes came),
// and abandoned temporary files.
func (d disk) trim(now time.Time) {
	for _, sub := range []string{actionsDir, outputsDir, pendingDir, notesDir, usedDir} {
		_ = filepath.WalkDir(filepath.Join(d.dir, sub), func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return nil
			}
			fi, err := de.Info()
			if err != nil {
				return nil
			}
			age := now.Sub(fi.ModTime())
			tmp := strings.HasPrefix(de.Name(), tmpPrefix)
			if (tmp && age > tmpMaxAge) || (!tmp && age > trimUnused) {
				_ = os.Remove(p)
			}
			return nil
		})
	}
}
