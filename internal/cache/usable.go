package cache

import (
	"fmt"
	"io"
	"os"
)

// Usable returns c, or c without its directory when the directory cannot
// be written (read-only, full, or not a directory), after one note on log:
// a cache that cannot be used must not fail a build that needs none.
func (c Cache) Usable(log io.Writer) Cache {
	if c.Dir == "" {
		return c
	}
	if err := c.probe(); err != nil {
		fmt.Fprintf(log, "note: the cache %s cannot be written (%v): building without it\n", c.Dir, err)
		return Cache{Scratch: c.Scratch}
	}
	return c
}

// probe makes the layer directory and writes, reserves on disk and
// removes a byte in it.
func (c Cache) probe() error {
	if err := os.MkdirAll(c.layersDir(), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.layersDir(), ".probe-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write([]byte{0}); err != nil {
		_ = f.Close()
		return err
	}
	if err := reserve(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
