package cache

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSpecialFilesInTheCache: a FIFO (or other special file) where the
// cache keeps a record is treated as a missing record: the build neither
// hangs on it nor trusts it, and the layer is the one an empty cache makes.
func TestSpecialFilesInTheCache(t *testing.T) {
	data := binaryLike(3*blockSize+5, 9)
	produce := func(w io.Writer) error { _, err := w.Write(data); return err }
	want, err := Cache{Dir: t.TempDir()}.KeyedLayer(Key{Content: "id"}, produce)
	if err != nil {
		t.Fatal(err)
	}
	diffID, err := want.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path func(c Cache) string
		// next is the key of the second build: "id" again finds the
		// entry by its key, "id-2" stores it again, reading the lineage.
		next string
	}{
		{"key record", func(c Cache) string { return c.keyPath("id") }, "id"},
		{"lineage record", func(c Cache) string { return c.lineagePath("app") }, "id"},
		{"lineage record read to copy blocks", func(c Cache) string { return c.lineagePath("app") }, "id-2"},
		{"block list", func(c Cache) string { return filepath.Join(c.entryDir(diffID), blocksFile) }, "id-2"},
		{"entry meta.json", func(c Cache) string { return filepath.Join(c.entryDir(diffID), "meta.json") }, "id"},
		{"entry blob", func(c Cache) string { return filepath.Join(c.entryDir(diffID), "blob") }, "id"},
		{"entry blob read to copy blocks", func(c Cache) string { return filepath.Join(c.entryDir(diffID), "blob") }, "id-2"},
	} {
		name, path := tc.name, tc.path
		t.Run(name, func(t *testing.T) {
			c := Cache{Dir: t.TempDir()}
			key := Key{Content: "id", Lineage: "app"}
			if _, err := c.KeyedLayer(key, produce); err != nil {
				t.Fatal(err)
			}
			key.Content = tc.next
			p := path(c)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			_ = os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			var got []byte
			go func() {
				l, err := c.KeyedLayer(key, produce)
				if err == nil {
					var rc io.ReadCloser
					if rc, err = l.Compressed(); err == nil {
						got, err = io.ReadAll(rc)
						_ = rc.Close()
					}
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("KeyedLayer with a FIFO as the %s: %v", name, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("KeyedLayer hangs on a FIFO as the %s", name)
			}
			rc, err := want.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			wantBytes, err := io.ReadAll(rc)
			_ = rc.Close()
			if err != nil || !bytes.Equal(got, wantBytes) {
				t.Errorf("with a FIFO as the %s the layer differs from an empty cache's (%v)", name, err)
			}
		})
	}
}
