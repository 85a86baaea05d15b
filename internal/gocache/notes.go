package gocache

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/buildercli/builder/internal/atomicfile"
)

// maxNote bounds the size of a note read back.
const maxNote = 64 << 10

// notePrefix starts the name of each note of run.
func notePrefix(run string) string { return "note-" + run + "-" }

// note leaves a line for run's TakeNotes, in a file of its own.
func (d disk) note(run, line string) error {
	f, err := os.CreateTemp(filepath.Join(d.dir, notesDir), notePrefix(run)+"*")
	if err != nil {
		return err
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		return err
	}
	// The name is taken; the note is written beside it and renamed over it.
	return writeAtomic(name, []byte(line+"\n"))
}

// noteOff returns what Repo's first failure calls: it leaves a note of
// s.Run's that says why Repo is off.
func (s Store) noteOff(d disk) func(error) {
	return func(err error) {
		_ = d.note(s.Run, fmt.Sprintf("the Go build cache at %s is off for this build: %v", s.Repo, err))
	}
}

// noteFresh is how long a note turns Repo off for the Serves that follow
// (the go commands of one build), until the caller takes it.
const noteFresh = 10 * time.Minute

// freshNote reports whether a note of run younger than noteFresh is
// waiting.
func (d disk) freshNote(run string, now time.Time) bool {
	ents, err := os.ReadDir(filepath.Join(d.dir, notesDir))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), notePrefix(run)) && now.Sub(fi.ModTime()) < noteFresh {
			return true
		}
	}
	return false
}

// TakeNotes returns the notes that the Serves of s.Run left under Dir (why
// Repo was turned off), each once, and removes them.
func (s Store) TakeNotes() []string {
	dir := filepath.Join(s.Dir, notesDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var notes []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), notePrefix(s.Run)) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		// A note is a line; anything but a small regular file is not one.
		b, err := atomicfile.ReadRegular(p, maxNote)
		if err != nil {
			continue
		}
		if os.Remove(p) != nil {
			continue // another process took it
		}
		line := strings.TrimSpace(string(b))
		if line != "" && !seen[line] {
			seen[line] = true
			notes = append(notes, line)
		}
	}
	sort.Strings(notes)
	return notes
}
