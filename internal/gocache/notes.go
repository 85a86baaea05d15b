package gocache

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// note leaves a line for TakeNotes, in a file of its own.
func (d disk) note(line string) error {
	f, err := os.CreateTemp(filepath.Join(d.dir, notesDir), "note-*")
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

// noteFresh is how long a note turns Repo off for the Serves that follow
// (the go commands of one build), until the caller takes it.
const noteFresh = 10 * time.Minute

// freshNote reports whether a note younger than noteFresh is waiting.
func (d disk) freshNote(now time.Time) bool {
	ents, err := os.ReadDir(filepath.Join(d.dir, notesDir))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), "note-") && now.Sub(fi.ModTime()) < noteFresh {
			return true
		}
	}
	return false
}

// TakeNotes returns the notes that Serve left under Dir (why Repo was
// turned off), each once, and removes them.
func (s Store) TakeNotes() []string {
	dir := filepath.Join(s.Dir, notesDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var notes []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "note-") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
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
