package cache

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTrim: what no run used for five days goes, what a run used stays,
// and a layer a run reads is marked used.
func TestTrim(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	now := time.Now()
	long := now.Add(-trimAge - time.Hour)
	produce := func(s string) Producer {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	layerOf := func(s string) *layer {
		t.Helper()
		l, err := c.KeyedLayer(Key{Content: "id-" + s, Lineage: "lineage-" + s}, produce(strings.Repeat(s, 1000)))
		if err != nil {
			t.Fatal(err)
		}
		return l.(*layer)
	}
	age := func(path string, when time.Time) {
		t.Helper()
		if err := os.Chtimes(path, when, when); err != nil {
			t.Fatal(err)
		}
	}
	used, unused, read := layerOf("used"), layerOf("unused"), layerOf("read")
	entryOf := func(l *layer) string { return filepath.Dir(l.blob) }
	// unused and read were last used long ago: their entries, key
	// records and lineage records.
	for _, l := range []*layer{unused, read} {
		age(filepath.Join(entryOf(l), "meta.json"), long)
	}
	for _, s := range []string{"unused", "read"} {
		age(c.keyPath("id-"+s), long)
		age(c.lineagePath("lineage-"+s), long)
	}
	// A run reads read again: it is marked.
	if _, err := c.KeyedLayer(Key{Content: "id-read", Lineage: "lineage-read"}, produce(strings.Repeat("read", 1000))); err != nil {
		t.Fatal(err)
	}
	// An older builder's layers, a directory a killed run left, binaries.
	oldSet := filepath.Join(c.Dir, "layers", "pgzip-v1.3.0-l3-b1m")
	oldEntry := filepath.Join(oldSet, strings.Repeat("a", 64))
	tmp := filepath.Join(c.layersDir(), ".tmp-123")
	for _, d := range []string{oldEntry, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	age(oldEntry, long)
	age(tmp, now.Add(-tmpAge-time.Hour))
	binUsed, unlock, err := c.BinaryDir("example.com/used linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	binGone, unlock, err := c.BinaryDir("example.com/gone linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	age(binGone, long)

	if err := c.Trim(now); err != nil {
		t.Fatalf("Trim: %v", err)
	}
	for _, tc := range []struct {
		what, path string
		kept       bool
	}{
		{"a layer used now", entryOf(used), true},
		{"its key record", c.keyPath("id-used"), true},
		{"its lineage record", c.lineagePath("lineage-used"), true},
		{"a layer read again now", entryOf(read), true},
		{"its key record", c.keyPath("id-read"), true},
		{"its lineage record", c.lineagePath("lineage-read"), true},
		{"a layer unused for long", entryOf(unused), false},
		{"its key record", c.keyPath("id-unused"), false},
		{"its lineage record", c.lineagePath("lineage-unused"), false},
		{"an older builder's layers", oldSet, false},
		{"a killed run's directory", tmp, false},
		{"a binary built now", binUsed, true},
		{"a binary not built for long", binGone, false},
	} {
		if got := exists(tc.path); got != tc.kept {
			t.Errorf("%s: kept %v, want %v", tc.what, got, tc.kept)
		}
	}
	// What is kept is still served.
	if _, err := open(entryOf(used), used.e.DiffID); err != nil {
		t.Errorf("a kept layer: %v", err)
	}
}

// TestTrimIfDue: a trim runs once a trimInterval, and never while another
// run uses the cache.
func TestTrimIfDue(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	now := time.Now()
	release, err := c.Use()
	if err != nil {
		t.Fatal(err)
	}
	if did, err := c.TrimIfDue(now); did || err != nil {
		t.Errorf("TrimIfDue while another run uses the cache = %v, %v; want no trim", did, err)
	}
	release()
	if did, err := c.TrimIfDue(now); !did || err != nil {
		t.Errorf("TrimIfDue on a new cache = %v, %v; want a trim", did, err)
	}
	if did, err := c.TrimIfDue(now.Add(trimInterval / 2)); did || err != nil {
		t.Errorf("TrimIfDue half a day later = %v, %v; want no trim", did, err)
	}
	if did, err := c.TrimIfDue(now.Add(trimInterval)); !did || err != nil {
		t.Errorf("TrimIfDue a day later = %v, %v; want a trim", did, err)
	}
	// Runs use the cache together.
	r1, err := c.Use()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Use()
	if err != nil {
		t.Fatalf("a second run's Use: %v", err)
	}
	r1()
	r2()
	if did, _ := c.TrimIfDue(now.Add(3 * trimInterval)); !did {
		t.Errorf("no trim once both runs ended")
	}
}

// TestTrimStampSpecialFile: a FIFO where the trim's stamp belongs is
// replaced, not opened (an open would block every later run, which waits
// for the trim's lock).
func TestTrimStampSpecialFile(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	stamp := filepath.Join(c.Dir, "trim.txt")
	if err := syscall.Mkfifo(stamp, 0o644); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-2 * trimInterval)
	if err := os.Chtimes(stamp, long, long); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		did bool
		err error
	}
	got := make(chan outcome, 1)
	go func() {
		did, err := c.TrimIfDue(time.Now())
		got <- outcome{did, err}
	}()
	select {
	case o := <-got:
		if !o.did || o.err != nil {
			t.Errorf("TrimIfDue with a FIFO for its stamp = %v, %v; want a trim", o.did, o.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("TrimIfDue hangs on a FIFO where its stamp belongs")
	}
	if fi, err := os.Lstat(stamp); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the stamp after the trim: %v, %v; want a regular file", fi, err)
	}
}
