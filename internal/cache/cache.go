// Package cache keeps compressed image layers on disk, keyed by the digest
// of their uncompressed content and the compression settings, so that a
// layer whose content has not changed is never compressed or hashed twice.
package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Compression settings. Their name is part of every key: entries written
// with other settings are never mixed up. klauspost/compress is pinned by
// go.sum, and its output for a given version and level is stable.
const (
	Level    = 3
	Settings = "gzip-klauspost-v1.20.1-l3"
)

// Cache stores layers under Dir. A zero Dir caches nothing: layers are
// compressed into Scratch and read from there.
type Cache struct {
	Dir     string
	Scratch string
}

// Producer writes a layer's uncompressed content (a tar stream) to w. It
// must write the same bytes every time it is called.
type Producer func(w io.Writer) error

// entry is what an entry's meta.json holds.
type entry struct {
	Digest       v1.Hash `json:"digest"`
	DiffID       v1.Hash `json:"diffID"`
	Size         int64   `json:"size"`
	Uncompressed int64   `json:"uncompressedSize"`
}

// Layer returns the OCI layer that produce writes. The content is hashed
// first; when the cache holds a sound entry for that hash, the layer is
// served from it, otherwise it is compressed once, hashing as it goes, and
// stored. An entry that fails its check is removed and rebuilt.
func (c Cache) Layer(produce Producer) (v1.Layer, error) {
	diffID, n, err := hashOf(produce)
	if err != nil {
		return nil, fmt.Errorf("hashing layer content: %w", err)
	}
	dir := c.entryDir(diffID)
	if l, err := open(dir, diffID); err == nil {
		return l, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("removing a bad cache entry: %w", err)
		}
	}
	if err := c.store(dir, produce, diffID, n); err != nil {
		return nil, err
	}
	return open(dir, diffID)
}

func (c Cache) entryDir(diffID v1.Hash) string {
	root := c.Dir
	if root == "" {
		root = c.Scratch
	}
	return filepath.Join(root, "layers", Settings, diffID.Hex)
}

// store compresses the content into a new directory beside dir and renames
// it into place; when another build got there first, its entry is kept.
func (c Cache) store(dir string, produce Producer, diffID v1.Hash, n int64) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("making the layer cache: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-"+diffID.Hex[:12]+"-")
	if err != nil {
		return fmt.Errorf("making the layer cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	e, err := compress(filepath.Join(tmp, "blob"), produce)
	if err != nil {
		return err
	}
	if e.DiffID != diffID || e.Uncompressed != n {
		return fmt.Errorf("layer content changed while it was being compressed (%s, then %s)", diffID, e.DiffID)
	}
	meta, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding the cache entry: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), meta, 0o644); err != nil {
		return fmt.Errorf("writing the cache entry: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "meta.json")); statErr == nil {
			return nil // a concurrent build stored the same content
		}
		return fmt.Errorf("storing the cache entry: %w", err)
	}
	return nil
}

// compress writes the gzip of the content to path and returns its digests
// and sizes, hashing the content and the compressed stream in one pass.
func compress(path string, produce Producer) (entry, error) {
	f, err := os.Create(path)
	if err != nil {
		return entry{}, fmt.Errorf("writing the layer cache: %w", err)
	}
	defer f.Close()
	digest := sha256.New()
	compressed := &counter{w: io.MultiWriter(f, digest)}
	zw, err := gzip.NewWriterLevel(compressed, Level)
	if err != nil {
		return entry{}, fmt.Errorf("starting compression: %w", err)
	}
	diffID := sha256.New()
	content := &counter{w: io.MultiWriter(zw, diffID)}
	if err := produce(content); err != nil {
		return entry{}, fmt.Errorf("writing layer content: %w", err)
	}
	if err := zw.Close(); err != nil {
		return entry{}, fmt.Errorf("compressing the layer: %w", err)
	}
	if err := f.Close(); err != nil {
		return entry{}, fmt.Errorf("writing the layer cache: %w", err)
	}
	return entry{
		Digest: sum(digest), DiffID: sum(diffID),
		Size: compressed.n, Uncompressed: content.n,
	}, nil
}

func hashOf(produce Producer) (v1.Hash, int64, error) {
	h := sha256.New()
	c := &counter{w: h}
	if err := produce(c); err != nil {
		return v1.Hash{}, 0, err
	}
	return sum(h), c.n, nil
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// Layer media type of every cached layer.
const mediaType = types.OCILayer
