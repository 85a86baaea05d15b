package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// binaryLike returns n bytes that compress about as a Go binary does.
func binaryLike(n int, seed int64) []byte {
	data := make([]byte, n)
	r := rand.New(rand.NewSource(seed))
	for i := range data {
		if i%3 == 0 {
			data[i] = byte(r.Intn(256))
		} else {
			data[i] = byte(i >> 5)
		}
	}
	return data
}

// pgzipOf is the stream klauspost/pgzip writes for data with builder's
// settings, the format the block writer promises.
func pgzipOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := pgzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.SetConcurrency(blockSize, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// blockGzip writes data to a block writer in pieces of piece bytes.
func blockGzip(t *testing.T, data []byte, piece int, prev *earlier) ([]byte, *blockWriter) {
	t.Helper()
	var buf bytes.Buffer
	bw := newBlockWriter(&buf, prev, true)
	for rest := data; len(rest) > 0; {
		k := min(piece, len(rest))
		if _, err := bw.Write(rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), bw
}

func TestBlockWriterWritesPgzipStream(t *testing.T) {
	for _, n := range []int{0, 1, tailSize, tailSize + 1, blockSize - 1, blockSize, blockSize + 1, blockSize + tailSize,
		2 * blockSize, 3*blockSize + 12345} {
		data := binaryLike(n, int64(n))
		want := pgzipOf(t, data)
		for _, piece := range []int{32 << 10, 7777, blockSize + 3} {
			got, bw := blockGzip(t, data, piece, nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes in pieces of %d: the stream differs from pgzip's (%d bytes, want %d)", n, piece, len(got), len(want))
			}
			if wantBlocks := n/blockSize + 1; len(bw.blocks) != wantBlocks {
				t.Errorf("%d bytes: %d blocks, want %d", n, len(bw.blocks), wantBlocks)
			}
		}
		zr, err := gzip.NewReader(bytes.NewReader(want))
		if err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%d bytes: the stream does not decompress to its content: %v", n, err)
		}
	}
}

// earlierOf is stream, whose blocks bw recorded, as an earlier layer.
func earlierOf(stream []byte, bw *blockWriter) *earlier {
	e := &earlier{blob: bytes.NewReader(stream), blocks: map[string]block{}}
	for _, b := range bw.blocks {
		e.blocks[b.Key] = b
	}
	return e
}

func TestBlockWriterCopiesUnchangedBlocks(t *testing.T) {
	old := binaryLike(5*blockSize+999, 1)
	oldStream, oldBW := blockGzip(t, old, 32<<10, nil)

	// A change in the middle of the second block, and one in the last
	// 16 KiB of the fourth, which is also the fifth block's dictionary.
	changed := bytes.Clone(old)
	changed[blockSize+blockSize/2] ^= 0xff
	changed[4*blockSize-100] ^= 0xff
	got, bw := blockGzip(t, changed, 32<<10, earlierOf(oldStream, oldBW))
	if want := pgzipOf(t, changed); !bytes.Equal(got, want) {
		t.Fatal("with blocks copied, the stream differs from pgzip's")
	}
	// Six blocks: the second, fourth and fifth changed.
	if bw.reused != 3 {
		t.Errorf("copied %d blocks, want 3 (the first, third and last)", bw.reused)
	}

	// The same content again is copied whole.
	again, bw := blockGzip(t, changed, blockSize, earlierOf(got, bw))
	if !bytes.Equal(again, got) || bw.reused != len(bw.blocks) {
		t.Errorf("unchanged content: copied %d of %d blocks, streams equal: %t", bw.reused, len(bw.blocks), bytes.Equal(again, got))
	}

	// Content cut at a block boundary ends with an empty last block, which
	// is new; the others are copied.
	prefix := old[:5*blockSize]
	_, bw = blockGzip(t, prefix, blockSize, earlierOf(oldStream, oldBW))
	if bw.reused != 5 {
		t.Errorf("the content cut at a block boundary copied %d blocks, want 5 (the last is new: an empty last block)", bw.reused)
	}

	// A block is found by its input, wherever it is: content moved by a
	// whole block copies every block but the first two, the new one and
	// the old first, whose dictionary the new one now is.
	moved := append(binaryLike(blockSize, 7), old...)
	got, bw = blockGzip(t, moved, 32<<10, earlierOf(oldStream, oldBW))
	if want := pgzipOf(t, moved); !bytes.Equal(got, want) {
		t.Fatal("content moved by a block: the stream differs from pgzip's")
	}
	if bw.reused != 5 {
		t.Errorf("content moved by a block copied %d of %d blocks, want 5", bw.reused, len(bw.blocks))
	}
}

func TestBlockWriterRefusesMisfiledRecords(t *testing.T) {
	old := binaryLike(4*blockSize, 6)
	oldStream, oldBW := blockGzip(t, old, blockSize, nil)
	// Each record's offset, size and checksum still fit its bytes, under
	// another block's key.
	e := earlierOf(oldStream, oldBW)
	b1, b2 := oldBW.blocks[1], oldBW.blocks[2]
	b1.Key, b2.Key = b2.Key, b1.Key
	e.blocks[b1.Key], e.blocks[b2.Key] = b1, b2
	got, bw := blockGzip(t, old, blockSize, e)
	if !bytes.Equal(got, oldStream) {
		t.Error("with two records' keys swapped, the stream differs from the one compressed in full")
	}
	if bw.reused != len(bw.blocks)-2 {
		t.Errorf("copied %d of %d blocks, want all but the two misfiled", bw.reused, len(bw.blocks))
	}
}

// failingWriter takes n bytes, then fails.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestBlockWriterOutputFailure(t *testing.T) {
	bw := newBlockWriter(&failingWriter{n: blockSize}, nil, true)
	data := binaryLike(8*blockSize, 8)
	_, werr := bw.Write(data)
	cerr := bw.Close()
	if werr == nil && cerr == nil {
		t.Fatal("a failing output: Write and Close both succeeded")
	}
	if err := bw.Close(); !errors.Is(err, errClosed) {
		t.Errorf("a second Close = %v, want errClosed", err)
	}
	if _, err := bw.Write([]byte("more")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestBlockWriterChecksCopiedBytes(t *testing.T) {
	old := binaryLike(3*blockSize+500, 2) // four blocks
	oldStream, oldBW := blockGzip(t, old, blockSize, nil)
	corrupt := bytes.Clone(oldStream)
	b := oldBW.blocks[1]
	corrupt[b.Offset+b.Size/2] ^= 0x55
	for _, tc := range []struct {
		name   string
		stream []byte
		sound  int
	}{
		{"a corrupted block", corrupt, 3},
		{"a truncated stream", oldStream[:oldBW.blocks[2].Offset+1], 2},
	} {
		got, bw := blockGzip(t, old, blockSize, earlierOf(tc.stream, oldBW))
		if !bytes.Equal(got, oldStream) {
			t.Errorf("%s: the stream differs from the one compressed in full", tc.name)
		}
		if bw.reused != tc.sound {
			t.Errorf("%s: copied %d blocks, want the %d sound ones", tc.name, bw.reused, tc.sound)
		}
	}
}

func TestLineageLendsBlocks(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	bin := binaryLike(4*blockSize, 3)
	produce := func(data []byte) Producer {
		return func(w io.Writer) error { _, err := w.Write(data); return err }
	}
	key := Key{Content: "build-1", Lineage: "go-binary:example.com/app:linux/amd64"}
	if _, err := c.KeyedLayer(key, produce(bin)); err != nil {
		t.Fatal(err)
	}
	changed := bytes.Clone(bin)
	changed[2*blockSize+5] ^= 1
	key.Content = "build-2"
	l, err := c.KeyedLayer(key, produce(changed))
	if err != nil {
		t.Fatal(err)
	}
	if reused, blocks := CopiedBlocks(l); reused != 4 || blocks != 5 {
		t.Errorf("copied %d of %d blocks, want 4 of 5", reused, blocks)
	}
	fresh, err := Cache{Dir: t.TempDir()}.KeyedLayer(key, produce(changed))
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, l) != digest(t, fresh) {
		t.Errorf("a layer made with copied blocks is %s, compressed in full %s", digest(t, l), digest(t, fresh))
	}

	// Another lineage lends nothing, even for content it could, and
	// leaves the first lineage's last layer as it was; a broken block list
	// costs only the copies.
	pointer := func() string {
		data, err := os.ReadFile(c.lineagePath("go-binary:example.com/app:linux/amd64"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	last := pointer()
	key = Key{Content: "build-3", Lineage: "go-binary:example.com/other:linux/amd64"}
	other := bytes.Clone(changed)
	other[3*blockSize+9] ^= 1
	l, err = c.KeyedLayer(key, produce(other))
	if err != nil {
		t.Fatal(err)
	}
	if reused, _ := CopiedBlocks(l); reused != 0 {
		t.Errorf("another lineage's layer copied %d blocks", reused)
	}
	if pointer() != last {
		t.Error("another lineage's layer moved the first lineage's last layer")
	}
	lists, err := filepath.Glob(filepath.Join(c.Dir, "layers", settings, "*", blocksFile))
	if err != nil || len(lists) != 3 {
		t.Fatalf("block lists: %v, %v", lists, err)
	}
	for _, p := range lists {
		if err := os.WriteFile(p, []byte("{not json"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key = Key{Content: "build-4", Lineage: "go-binary:example.com/app:linux/amd64"}
	changed[5] ^= 1
	l, err = c.KeyedLayer(key, produce(changed))
	if err != nil {
		t.Fatal(err)
	}
	if reused, _ := CopiedBlocks(l); reused != 0 {
		t.Errorf("copied %d blocks with a broken block list", reused)
	}
	var recorded []block
	diffID, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(c.Dir, "layers", settings, diffID.Hex, blocksFile))
	if err == nil {
		err = json.Unmarshal(data, &recorded)
	}
	if err != nil || len(recorded) != 5 {
		t.Errorf("the new entry lists %d blocks (%v), want 5", len(recorded), err)
	}
}

func TestSettingsNameFlateVersion(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "github.com/klauspost/compress " + flateVersion + "\n"; !strings.Contains(string(mod), want) {
		t.Errorf("go.mod does not require %q: set flateVersion to the version it requires", strings.TrimSpace(want))
	}
}

func TestProducerFailureStoresNothing(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	boom := errors.New("disk on fire")
	_, err := c.KeyedLayer(Key{Content: "id", Lineage: "app"}, func(w io.Writer) error {
		if _, err := w.Write(binaryLike(3*blockSize+7, 5)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("KeyedLayer = %v, want the producer's error", err)
	}
	left, err := filepath.Glob(filepath.Join(c.Dir, "layers", settings, "*"))
	if err != nil || len(left) != 0 {
		t.Errorf("a failed layer left %v (%v)", left, err)
	}
	if _, err := os.Stat(c.lineagePath("app")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed layer became its lineage's last: %v", err)
	}
}
