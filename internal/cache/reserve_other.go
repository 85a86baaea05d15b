//go:build !linux

package cache

import "os"

// reserve makes sure f's first byte has a block on disk, so that a full
// disk fails now rather than when the page cache is written back.
func reserve(f *os.File) error {
	return f.Sync()
}
