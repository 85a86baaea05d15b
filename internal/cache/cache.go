// Package cache owns builder's cache directory: where each kind of entry
// lives (compressed layers with their block lists, key and lineage records,
// pulled bases, compiled binaries, blob locations for mounts), and the layer
// cache itself, which keeps compressed layers keyed by the digest of their
// uncompressed content and the compression settings, so that a layer whose
// content has not changed is never compressed or hashed twice, and a new
// version of a layer copies the compressed blocks its last version shares.
package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Cache is builder's cache directory, Dir. A zero Dir caches nothing:
// layers are then compressed into Scratch and read from there, and the
// other directories are "".
type Cache struct {
	Dir     string
	Scratch string
}

// FromEnv returns the cache directory a run uses: $BUILDER_CACHE, else
// "builder" in the user's cache directory; "" (no cache) when there is none
// or BUILDER_CACHE=off.
func FromEnv(getenv func(string) string) string {
	switch root := getenv("BUILDER_CACHE"); root {
	case "off":
		return ""
	case "":
		d, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(d, "builder")
	default:
		return root
	}
}

// Enabled reports whether anything is kept between runs.
func (c Cache) Enabled() bool { return c.Dir != "" }

// Bases holds pulled registry bases, an OCI layout keyed by digest.
func (c Cache) Bases() string { return c.sub("bases") }

// Mounts holds, per registry and blob, a repository that has the blob.
func (c Cache) Mounts() string { return c.sub("mounts") }

// Binaries holds a directory per main package and platform, where the
// binary is compiled to a stable path.
func (c Cache) Binaries() string { return c.sub("bin") }

// GoBuild holds the Go build cache that a shared cache program keeps
// (see gocache).
func (c Cache) GoBuild() string { return c.sub("gocache") }

// keys holds the key records of KeyedLayer.
func (c Cache) keys() string { return c.sub("keys") }

func (c Cache) sub(name string) string {
	if c.Dir == "" {
		return ""
	}
	return filepath.Join(c.Dir, name)
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
	return c.KeyedLayer(Key{}, produce)
}

// Key says what the cache may know of a layer before reading its content.
type Key struct {
	// Content names the content without reading it (for a Go binary, its
	// build ID, a hash of its content the linker wrote): when the cache
	// has seen it, the content is not hashed again.
	Content string
	// Lineage names what the layer is a new version of (for a Go binary:
	// its package, platform and path in the image). The blocks of the
	// lineage's last layer that are unchanged are copied from it instead of
	// being compressed again.
	Lineage string
}

// KeyedLayer is Layer for a layer that key describes.
func (c Cache) KeyedLayer(key Key, produce Producer) (v1.Layer, error) {
	if c.Dir == "" {
		key = Key{}
	}
	if key.Content == "" {
		return c.layer(produce, key.Lineage)
	}
	if diffID, ok := c.known(key.Content); ok {
		if l, err := open(c.entryDir(diffID), diffID); err == nil {
			c.follow(key.Lineage, diffID)
			return l, nil
		}
	}
	// A new key most likely names new content: compress it at once rather
	// than hash it first; store keeps an entry already there.
	l, err := c.store(produce, nil, key.Lineage)
	if err == nil {
		c.remember(key.Content, l.e.DiffID)
	}
	return l, err
}

func (c Cache) layer(produce Producer, lineage string) (*layer, error) {
	diffID, _, err := hashOf(produce)
	if err != nil {
		return nil, fmt.Errorf("hashing layer content: %w", err)
	}
	if l, err := open(c.entryDir(diffID), diffID); err == nil {
		c.follow(lineage, diffID)
		return l, nil
	}
	return c.store(produce, &diffID, lineage)
}

func (c Cache) layersDir() string {
	root := c.Dir
	if root == "" {
		root = c.Scratch
	}
	return filepath.Join(root, "layers", settings)
}

func (c Cache) entryDir(diffID v1.Hash) string {
	return filepath.Join(c.layersDir(), diffID.Hex)
}

// store compresses the content into a new directory and renames it into
// place, unless a sound entry for the same content is there already (a
// concurrent build's, or an earlier one's): compression is deterministic, so
// either holds the same bytes. A bad entry in the way is replaced. With want
// set, the content must hash to it. The lineage's last layer lends its
// unchanged blocks, and the new layer becomes its last.
func (c Cache) store(produce Producer, want *v1.Hash, lineage string) (*layer, error) {
	root := c.layersDir()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("making the layer cache: %w", err)
	}
	tmp, err := os.MkdirTemp(root, ".tmp-")
	if err != nil {
		return nil, fmt.Errorf("making the layer cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	prev, closePrev := c.earlier(lineage)
	e, blocks, reused, err := compress(filepath.Join(tmp, "blob"), produce, prev, lineage != "")
	closePrev()
	if err != nil {
		return nil, err
	}
	if want != nil && e.DiffID != *want {
		return nil, fmt.Errorf("layer content changed while it was being compressed (%s, then %s)", *want, e.DiffID)
	}
	dir := c.entryDir(e.DiffID)
	if l, err := open(dir, e.DiffID); err == nil {
		c.follow(lineage, e.DiffID)
		return l, nil
	} else if !errors.Is(err, errNotCached) {
		// A bad entry: truncated, corrupted, or half removed.
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("removing a bad cache entry: %w", err)
		}
	}
	meta, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding the cache entry: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), meta, 0o644); err != nil {
		return nil, fmt.Errorf("writing the cache entry: %w", err)
	}
	// Only a cost if lost: the blocks are then compressed again.
	if len(blocks) > 0 {
		if data, err := json.Marshal(blocks); err == nil {
			if err := os.WriteFile(filepath.Join(tmp, blocksFile), data, 0o644); err != nil {
				_ = os.Remove(filepath.Join(tmp, blocksFile))
			}
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		// A concurrent build stored the same content first.
		if l, openErr := open(dir, e.DiffID); openErr == nil {
			c.follow(lineage, e.DiffID)
			return l, nil
		}
		return nil, fmt.Errorf("storing the cache entry: %w", err)
	}
	c.follow(lineage, e.DiffID)
	return &layer{blob: filepath.Join(dir, "blob"), e: e, reused: reused, blocks: len(blocks)}, nil
}

// compress writes the gzip of the content to path, copying from prev the
// blocks it has, and returns its digests and sizes, hashing the content and
// the compressed stream in one pass; its blocks, when keyed, and how many
// were copied.
func compress(path string, produce Producer, prev *earlier, keyed bool) (entry, []block, int, error) {
	f, err := os.Create(path)
	if err != nil {
		return entry{}, nil, 0, fmt.Errorf("writing the layer cache: %w", err)
	}
	defer f.Close()
	digest := sha256.New()
	compressed := &counter{w: io.MultiWriter(f, digest)}
	zw := newBlockWriter(compressed, prev, keyed)
	diffID := sha256.New()
	content := &counter{w: io.MultiWriter(zw, diffID)}
	if err := produce(content); err != nil {
		zw.abort()
		return entry{}, nil, 0, fmt.Errorf("writing layer content: %w", err)
	}
	if err := zw.Close(); err != nil {
		return entry{}, nil, 0, fmt.Errorf("compressing the layer: %w", err)
	}
	if err := f.Close(); err != nil {
		return entry{}, nil, 0, fmt.Errorf("writing the layer cache: %w", err)
	}
	return entry{
		Digest: sum(digest), DiffID: sum(diffID),
		Size: compressed.n, Uncompressed: content.n,
	}, zw.blocks, zw.reused, nil
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

// BinaryDir returns the directory where the binary that key names (a
// package and platform) is compiled, locked against concurrent builds of the
// same until unlock is called. The path is stable, so that go build finds
// its previous output up to date and skips the link.
func (c Cache) BinaryDir(key string) (dir string, unlock func(), err error) {
	h := sha256.Sum256([]byte(key))
	dir = filepath.Join(c.Binaries(), hex.EncodeToString(h[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("making the binary cache: %w", err)
	}
	mark(dir, time.Now())
	unlock, err = Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", nil, err
	}
	return dir, unlock, nil
}
