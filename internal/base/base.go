// Package base gives a build its base image: the built-in base (a
// distroless-static equivalent made from pinned sources, builtin.go), or the
// one --base names — a registry reference (resolved to a digest once and
// cached on disk), an OCI image layout, or a docker-archive tarball — and
// picks its image for each platform, converted whole to OCI media types.
package base

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/platform"
	"github.com/buildercli/builder/internal/registry"
)

// Syntax is the --base syntax, for help texts and errors.
const Syntax = `"builtin" (default), a registry reference (gcr.io/distroless/static-debian12:nonroot, or pinned @sha256:…), "oci:DIR[:TAG]" or "docker-archive:FILE[:REF]"`

// BuiltinFunc makes the built-in base for a platform; the build passes one
// that serves the base layer from its cache.
type BuiltinFunc func(v1.Platform) (v1.Image, error)

// Options say where to find and keep bases.
type Options struct {
	// Cache keeps pulled registry bases, by digest, in its Bases
	// directory; nothing is kept when it is not enabled.
	Cache cache.Cache
	// Registry reads registry bases.
	Registry registry.Client
	// Builtin makes the built-in base; Builtin when nil.
	Builtin BuiltinFunc
	// Log gets notes, such as the digest a tag resolved to.
	Log io.Writer
}

// Base is a resolved base image.
type Base struct {
	// Name is how labels name the base: "builtin:static", or the reference
	// or path as given.
	Name string
	// Digest is what Name resolved to (an index or an image); empty for the
	// built-in base, whose images differ by platform.
	Digest v1.Hash

	builtin BuiltinFunc
	index   v1.ImageIndex
	image   v1.Image
}

// Resolve reads spec (see Syntax).
func Resolve(ctx context.Context, spec string, o Options) (*Base, error) {
	switch {
	case spec == "" || spec == "builtin" || spec == BuiltinName:
		b := &Base{Name: BuiltinName, builtin: o.Builtin}
		if b.builtin == nil {
			b.builtin = Builtin
		}
		return b, nil
	case strings.HasPrefix(spec, "oci:"):
		return fromLayout(spec)
	case strings.HasPrefix(spec, "docker-archive:"):
		return fromTarball(spec)
	}
	ref, err := o.Registry.Reference(strings.TrimPrefix(spec, "docker://"))
	if err != nil {
		return nil, fmt.Errorf("base %q is not a valid image reference; --base takes %s", spec, Syntax)
	}
	return fromRegistry(ctx, ref, o)
}

// IsBuiltin reports whether this is the built-in base.
func (b *Base) IsBuiltin() bool { return b.index == nil && b.image == nil }

// Platforms lists the linux platforms the base offers, sorted.
func (b *Base) Platforms() ([]v1.Platform, error) {
	switch {
	case b.index != nil:
		im, err := b.index.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading base %s: %w", b.Name, err)
		}
		var ps []v1.Platform
		for _, m := range im.Manifests {
			if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture != "unknown" {
				ps = append(ps, platform.Normalize(*m.Platform))
			}
		}
		return platform.Sort(ps), nil
	case b.image != nil:
		cf, err := b.image.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading base %s: %w", b.Name, err)
		}
		return []v1.Platform{platform.Normalize(*cf.Platform())}, nil
	}
	return append([]v1.Platform(nil), BuiltinPlatforms...), nil
}

// BuiltinPlatforms are the platforms "all" means for the built-in base.
var BuiltinPlatforms = []v1.Platform{
	{OS: "linux", Architecture: "386"},
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm", Variant: "v7"},
	{OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "ppc64le"},
	{OS: "linux", Architecture: "riscv64"},
	{OS: "linux", Architecture: "s390x"},
}

// Image returns the base's image for p, in OCI media types, and the digest
// of that image's manifest as the base holds it.
func (b *Base) Image(p v1.Platform) (v1.Image, v1.Hash, error) {
	img, err := b.pick(p)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("reading base %s for %s: %w", b.Name, p, err)
	}
	oci, err := toOCI(img)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("converting base %s for %s to OCI: %w", b.Name, p, err)
	}
	return oci, d, nil
}

func (b *Base) pick(p v1.Platform) (v1.Image, error) {
	if b.index == nil && b.image == nil {
		return b.builtin(p)
	}
	offered, err := b.Platforms()
	if err != nil {
		return nil, err
	}
	if b.image != nil {
		if !platform.Same(offered[0], p) {
			return nil, fmt.Errorf("base %s is a single-platform image for %s, not %s: pick another base or --platform %s", b.Name, offered[0], p, offered[0])
		}
		return b.image, nil
	}
	im, err := b.index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading base %s: %w", b.Name, err)
	}
	for _, m := range im.Manifests {
		if m.Platform != nil && platform.Same(*m.Platform, p) {
			img, err := b.index.Image(m.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading base %s for %s: %w", b.Name, p, err)
			}
			return img, nil
		}
	}
	return nil, b.noImage(p, offered)
}

func (b *Base) noImage(p v1.Platform, offered []v1.Platform) error {
	return fmt.Errorf("base %s has no image for %s (it offers %s)", b.Name, p, platform.List(offered))
}

// Select returns the platforms s names that the base has images for: a
// comma-separated list, or "all" for every platform it offers that Go can
// build for. Each named one must be offered, and a single-platform base (but
// the built-in one, made for any) serves one platform.
func (b *Base) Select(s string) ([]v1.Platform, error) {
	offered, err := b.Platforms()
	if err != nil {
		return nil, err
	}
	if s == "all" {
		var ps []v1.Platform
		for _, p := range offered {
			if _, err := platform.Parse(p.String()); err == nil {
				ps = append(ps, p)
			}
		}
		return ps, nil
	}
	ps, err := platform.ParseList(s)
	if err != nil {
		return nil, err
	}
	if len(ps) > 1 && len(offered) == 1 && !b.IsBuiltin() {
		return nil, fmt.Errorf("base %s is a single-platform image (%s): it cannot make an image for %s; use a multi-platform base or one --platform", b.Name, offered[0], platform.List(ps))
	}
	for _, p := range ps {
		if !platform.Contains(offered, p) {
			return nil, b.noImage(p, offered)
		}
	}
	return ps, nil
}

func fromTarball(spec string) (*Base, error) {
	rest := strings.TrimPrefix(spec, "docker-archive:")
	path, refStr, _ := strings.Cut(rest, ":")
	if refStr != "" {
		// A reference carries a colon itself: FILE:REPO:TAG.
		path, refStr = splitPathRef(rest)
	}
	var tag *name.Tag
	if refStr != "" {
		t, err := name.NewTag(refStr)
		if err != nil {
			return nil, fmt.Errorf("base %q: %q is not a valid image reference", spec, refStr)
		}
		tag = &t
	}
	img, err := tarball.ImageFromPath(path, tag)
	if err != nil {
		return nil, fmt.Errorf("reading base %s: %w", spec, err)
	}
	if err := checkDiffIDs(img); err != nil {
		return nil, fmt.Errorf("reading base %s: %w", spec, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading base %s: %w", spec, err)
	}
	return &Base{Name: spec, Digest: d, image: img}, nil
}

// checkDiffIDs reads every layer of img, whose digests a docker-archive
// does not state, and checks its content against the diff ID its config
// gives it, which an image built on it would repeat.
func checkDiffIDs(img v1.Image) error {
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if len(cf.RootFS.DiffIDs) != len(ls) {
		return fmt.Errorf("the config names %d layers, the archive has %d", len(cf.RootFS.DiffIDs), len(ls))
	}
	for i, l := range ls {
		want := cf.RootFS.DiffIDs[i]
		rc, err := l.Uncompressed()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
		got, _, err := v1.SHA256(rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
		if got != want {
			return fmt.Errorf("layer %d: content hashes to %s, but the config's diff ID is %s: %w", i+1, got, want, ErrBlobMismatch)
		}
	}
	return nil
}

// splitPathRef splits "FILE:REPO[:TAG]" at the first colon that is followed
// by a valid reference.
func splitPathRef(s string) (string, string) {
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		if _, err := name.NewTag(s[i+1:]); err == nil {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}
