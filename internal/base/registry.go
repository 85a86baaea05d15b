package base

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/registry"
)

// fromRegistry resolves ref to a digest (a request for a tag; none for a
// digest) and reads the base from the cache, pulling it into the cache
// first when it is not there.
func fromRegistry(ctx context.Context, ref name.Reference, o Options) (*Base, error) {
	var d v1.Hash
	if dr, ok := ref.(name.Digest); ok {
		h, err := v1.NewHash(dr.DigestStr())
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", ref, err)
		}
		d = h
	} else {
		desc, err := o.Registry.Head(ctx, ref)
		if registry.IsAuth(err) {
			return nil, fmt.Errorf("resolving base %s: %w", ref, err)
		}
		if err != nil {
			return nil, fmt.Errorf("resolving base %s: %w (pin it by digest to build offline from the cache)", ref, err)
		}
		d = desc.Digest
		fmt.Fprintf(logTo(o.Log), "base %s is %s\n", ref, d)
	}
	b := &Base{Name: ref.String(), Digest: d}
	pinned := ref.Context().Digest(d.String())
	if !o.Cache.Enabled() {
		return b, b.pull(ctx, pinned, o.Registry)
	}
	dir := o.Cache.Bases()
	unlock, err := lockCache(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	err = b.load(dir)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, errNotCached) {
		// A cache entry that fails its check is never used: the base is
		// pulled again into a fresh cache.
		fmt.Fprintf(logTo(o.Log), "note: the cached base %s is not sound (%v): pulling it again\n", d, err)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("removing the base cache: %w", err)
		}
	}
	if err := b.pull(ctx, pinned, o.Registry); err != nil {
		return nil, err
	}
	if err := b.store(dir); err != nil {
		return nil, err
	}
	return b, b.load(dir)
}

// pull reads the base from its registry.
func (b *Base) pull(ctx context.Context, ref name.Digest, c registry.Client) error {
	desc, err := c.Get(ctx, ref)
	if err != nil {
		return fmt.Errorf("pulling base %s: %w", ref, err)
	}
	if desc.MediaType.IsIndex() {
		b.index, err = desc.ImageIndex()
	} else {
		b.image, err = desc.Image()
	}
	if err != nil {
		return fmt.Errorf("pulling base %s: %w", ref, err)
	}
	return nil
}

// store writes the pulled base, every blob of it, into the cache layout
// in dir, made anew if it is not a layout.
func (b *Base) store(dir string) error {
	p, err := layout.FromPath(dir)
	if err == nil {
		_, err = p.ImageIndex()
	}
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("caching base %s: %w", b.Name, err)
		}
	}
	ann := layout.WithAnnotations(map[string]string{specs.AnnotationRefName: b.Name})
	if b.index != nil {
		err = p.ReplaceIndex(b.index, match.Digests(b.Digest), ann)
	} else {
		err = p.ReplaceImage(b.image, match.Digests(b.Digest), ann)
	}
	if err != nil {
		return fmt.Errorf("caching base %s: %w", b.Name, err)
	}
	return nil
}

// errNotCached says that the cache holds no entry for a base.
var errNotCached = errors.New("not cached")

// load reads the base from the cache layout in dir, verified as a local
// base is (manifests, indexes and configs against their digests, the
// platforms of an index's entries), and every layer read through to check
// it now: a blob whose content is not its name never ships.
func (b *Base) load(dir string) error {
	data, err := readLimited(filepath.Join(dir, "index.json"), maxJSONBlob)
	if errors.Is(err, fs.ErrNotExist) {
		return errNotCached
	}
	if err != nil {
		return err
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	i := slices.IndexFunc(im.Manifests, func(m v1.Descriptor) bool { return m.Digest == b.Digest })
	if i < 0 {
		return errNotCached
	}
	blobs := layoutBlobs(dir)
	var images []v1.Image
	if d := im.Manifests[i]; d.MediaType.IsIndex() {
		if b.index, err = blobs.index(d); err != nil {
			return err
		}
		if images, err = partial.FindImages(b.index, func(v1.Descriptor) bool { return true }); err != nil {
			return err
		}
	} else {
		if b.image, err = blobs.image(d); err != nil {
			return err
		}
		images = []v1.Image{b.image}
	}
	for _, img := range images {
		if err := readLayers(img); err != nil {
			return err
		}
	}
	return nil
}

// readLayers reads every layer of img to its end, which checks it.
func readLayers(img v1.Image) error {
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lockCache makes dir's parent and locks dir against concurrent builds,
// with a lock file beside it, so that dir itself may be removed.
func lockCache(dir string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("making the base cache: %w", err)
	}
	return cache.Lock(dir + ".lock")
}

func logTo(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
