package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUsableFullDisk fills a small file system (a tmpfs, which needs root)
// and finds the cache on it unusable, with one note, where an empty one
// is usable and says nothing.
func TestUsableFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("mounting a tmpfs needs root: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	c := Cache{Dir: filepath.Join(dir, "cache"), Scratch: t.TempDir()}
	var log bytes.Buffer
	if got := c.Usable(&log); got.Dir != c.Dir || log.Len() != 0 {
		t.Fatalf("on an empty file system: Dir %q, note %q; want the cache kept, no note", got.Dir, log.String())
	}
	// Fill it.
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	if err := f.Close(); err != nil && !strings.Contains(err.Error(), "no space") {
		t.Fatal(err)
	}
	got := c.Usable(&log)
	if got.Dir != "" || got.Scratch != c.Scratch {
		t.Errorf("on a full file system: Dir %q, Scratch %q; want no cache, the scratch kept", got.Dir, got.Scratch)
	}
	if strings.Count(log.String(), "cannot be written") != 1 {
		t.Errorf("notes %q, want one saying the cache cannot be written", log.String())
	}
}
