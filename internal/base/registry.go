package base

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
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
	p, unlock, err := openCache(o.Cache.Bases())
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := b.load(p); err == nil {
		return b, nil
	}
	if err := b.pull(ctx, pinned, o.Registry); err != nil {
		return nil, err
	}
	if err := b.store(p); err != nil {
		return nil, err
	}
	return b, b.load(p)
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

// store writes the pulled base, every blob of it, into the cache layout.
func (b *Base) store(p layout.Path) error {
	ann := layout.WithAnnotations(map[string]string{specs.AnnotationRefName: b.Name})
	var err error
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

// load reads the base from the cache layout; an error when it is not there.
func (b *Base) load(p layout.Path) error {
	root, err := p.ImageIndex()
	if err != nil {
		return err
	}
	im, err := root.IndexManifest()
	if err != nil {
		return err
	}
	for _, m := range im.Manifests {
		if m.Digest != b.Digest {
			continue
		}
		if m.MediaType.IsIndex() {
			b.index, err = root.ImageIndex(b.Digest)
		} else {
			b.image, err = root.Image(b.Digest)
		}
		return err
	}
	return errors.New("not cached")
}

// openCache opens (creating it if needed) the layout that caches bases and
// locks it against concurrent builds until unlock is called.
func openCache(dir string) (layout.Path, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("making the base cache: %w", err)
	}
	unlock, err := cache.Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", nil, err
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		p, err = layout.Write(dir, empty.Index)
	}
	if err != nil {
		unlock()
		return "", nil, fmt.Errorf("opening the base cache: %w", err)
	}
	return p, unlock, nil
}

func logTo(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
