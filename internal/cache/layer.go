package cache

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// layer is a v1.Layer served from a cache entry.
type layer struct {
	blob string
	e    entry
	// When the layer was compressed in this run: how many blocks of it
	// were copied from an earlier layer, and how many it has.
	reused, blocks int
}

// maxMeta bounds an entry's meta.json.
const maxMeta = 4 << 10

// errNotCached says that the cache has no entry for some content.
var errNotCached = errors.New("not cached")

// open checks the entry in dir — its metadata names the content diffID and
// its blob has the recorded size and digest — and returns it as a layer.
// With no entry at all, the error is errNotCached.
func open(dir string, diffID v1.Hash) (*layer, error) {
	data, err := atomicfile.ReadRegular(filepath.Join(dir, "meta.json"), maxMeta)
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
			return nil, errNotCached
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cache entry %s: %w", dir, err)
	}
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("cache entry %s: %w", dir, err)
	}
	if e.DiffID != diffID {
		return nil, fmt.Errorf("cache entry %s holds %s, not %s", dir, e.DiffID, diffID)
	}
	blob := filepath.Join(dir, "blob")
	if err := verify(blob, e); err != nil {
		return nil, fmt.Errorf("cache entry %s: %w", dir, err)
	}
	mark(filepath.Join(dir, "meta.json"), time.Now())
	return &layer{blob: blob, e: e}, nil
}

// verify checks the blob's size and sha256 against the entry, so that a
// truncated or corrupted entry is never served.
func verify(blob string, e entry) error {
	f, err := atomicfile.OpenRegular(blob)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != e.Size {
		return fmt.Errorf("blob has %d bytes, want %d", n, e.Size)
	}
	if got := sum(h); got != e.Digest {
		return fmt.Errorf("blob digest is %s, want %s", got, e.Digest)
	}
	return nil
}

func (l *layer) Digest() (v1.Hash, error)            { return l.e.Digest, nil }
func (l *layer) DiffID() (v1.Hash, error)            { return l.e.DiffID, nil }
func (l *layer) Size() (int64, error)                { return l.e.Size, nil }
func (l *layer) MediaType() (types.MediaType, error) { return mediaType, nil }

// UncompressedSize is the size of the layer's tar stream.
func (l *layer) UncompressedSize() int64 { return l.e.Uncompressed }

func (l *layer) Compressed() (io.ReadCloser, error) { return atomicfile.OpenRegular(l.blob) }

func (l *layer) Uncompressed() (io.ReadCloser, error) {
	f, err := atomicfile.OpenRegular(l.blob)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("reading %s: %w", l.blob, err)
	}
	return &readCloser{Reader: zr, close: func() error { _ = zr.Close(); return f.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// CopiedBlocks says, for a layer this run compressed, how many of its
// blocks were copied from the lineage's last layer, and how many it has;
// 0, 0 for a layer the cache had (even one this run compressed again
// before finding it there), or one not from the cache.
func CopiedBlocks(l v1.Layer) (copied, blocks int) {
	if cl, ok := l.(*layer); ok {
		return cl.reused, cl.blocks
	}
	return 0, 0
}
