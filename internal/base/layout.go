package base

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/buildercli/builder/internal/platform"
)

// maxJSONBlob bounds what is read into memory from a layout: index.json, a
// manifest, an index or a config.
const maxJSONBlob = 16 << 20

// fromLayout reads "oci:DIR[:TAG]": the entry of the layout's index.json
// named TAG, or its only entry when no TAG is given. The layout is trusted
// no more than a registry: every manifest, index and config read from it
// must hash to the digest and have the size that names it, every layer is
// checked as it is read, and an image's config must be for the platform its
// index entry claims.
func fromLayout(spec string) (*Base, error) {
	dir, tag, _ := strings.Cut(strings.TrimPrefix(spec, "oci:"), ":")
	data, err := readLimited(filepath.Join(dir, "index.json"), maxJSONBlob)
	if err != nil {
		return nil, fmt.Errorf("reading base %s: %w", spec, err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading base %s: %s/index.json: %w", spec, dir, err)
	}
	var found []v1.Descriptor
	for _, m := range im.Manifests {
		if tag == "" || m.Annotations[specs.AnnotationRefName] == tag {
			found = append(found, m)
		}
	}
	switch {
	case len(found) == 0:
		return nil, fmt.Errorf("base %s: no image named %q in %s/index.json", spec, tag, dir)
	case len(found) > 1:
		return nil, fmt.Errorf("base %s: %d images match; name one with oci:%s:TAG", spec, len(found), dir)
	}
	d := found[0]
	b := &Base{Name: spec, Digest: d.Digest}
	blobs := layoutBlobs(dir)
	switch d.MediaType {
	case types.OCIImageIndex, types.DockerManifestList:
		b.index, err = blobs.index(d)
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
		b.image, err = blobs.image(d)
	default:
		return nil, fmt.Errorf("base %s: %s is a %s, not an image or index", spec, d.Digest, d.MediaType)
	}
	if err != nil {
		return nil, fmt.Errorf("reading base %s: %w", spec, err)
	}
	return b, nil
}

// layoutBlobs reads the blobs of the OCI image layout in a directory, each
// checked against the descriptor that names it.
type layoutBlobs string

func (l layoutBlobs) path(h v1.Hash) string {
	return filepath.Join(string(l), "blobs", h.Algorithm, h.Hex)
}

// bytes reads the blob d names into memory: it must have d's size (at most
// maxJSONBlob) and hash to d's digest.
func (l layoutBlobs) bytes(d v1.Descriptor) ([]byte, error) {
	if d.Size < 0 || d.Size > maxJSONBlob {
		return nil, fmt.Errorf("blob %s: size %d is out of bounds (at most %d bytes are read)", d.Digest, d.Size, maxJSONBlob)
	}
	rc, err := l.open(d)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return data, nil
}

// open opens the blob d names, as a reader that fails, instead of ending,
// when the blob's size or digest is not d's.
func (l layoutBlobs) open(d v1.Descriptor) (io.ReadCloser, error) {
	h, err := v1.Hasher(d.Digest.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	f, err := os.Open(l.path(d.Digest))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	return &verifiedReader{f: f, h: h, want: d}, nil
}

// verifiedReader reads a blob, hashing it, and reports an error in place of
// io.EOF when what it read does not match want.
type verifiedReader struct {
	f    *os.File
	h    hash.Hash
	want v1.Descriptor
	n    int64
}

// ErrBlobMismatch is wrapped by the error for a blob of a local base whose
// content is not what its digest and size say.
var ErrBlobMismatch = errors.New("content does not match its digest")

func (r *verifiedReader) Read(p []byte) (int, error) {
	if r.n+int64(len(p)) > r.want.Size+1 {
		p = p[:r.want.Size+1-r.n] // read one byte past the size to see a longer blob
	}
	n, err := r.f.Read(p)
	r.n += int64(n)
	r.h.Write(p[:n])
	if r.n > r.want.Size {
		return n, fmt.Errorf("blob %s: longer than its size %d: %w", r.want.Digest, r.want.Size, ErrBlobMismatch)
	}
	if errors.Is(err, io.EOF) {
		got := v1.Hash{Algorithm: r.want.Digest.Algorithm, Hex: fmt.Sprintf("%x", r.h.Sum(nil))}
		if r.n != r.want.Size {
			return n, fmt.Errorf("blob %s: %d bytes, want %d: %w", r.want.Digest, r.n, r.want.Size, ErrBlobMismatch)
		}
		if got != r.want.Digest {
			return n, fmt.Errorf("blob %s: content hashes to %s: %w", r.want.Digest, got, ErrBlobMismatch)
		}
	}
	return n, err
}

func (r *verifiedReader) Close() error { return r.f.Close() }

// image reads the image d names; its config must be for d's platform, if d
// gives one.
func (l layoutBlobs) image(d v1.Descriptor) (v1.Image, error) {
	raw, err := l.bytes(d)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	img, err := partial.CompressedToImage(&layoutImage{blobs: l, desc: d, raw: raw, manifest: m})
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if d.Platform == nil {
		return img, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", d.Digest, err)
	}
	if err := samePlatform(*d.Platform, cf); err != nil {
		return nil, fmt.Errorf("image %s: %w", d.Digest, err)
	}
	return img, nil
}

// samePlatform checks that a config is for the platform p an index claims
// for it: the same OS and architecture, and the same variant when the
// config states one.
func samePlatform(p v1.Platform, cf *v1.ConfigFile) error {
	claimed := platform.Normalize(p)
	got := platform.Normalize(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant})
	if got.Variant == "" {
		claimed.Variant = ""
	}
	if !platform.Same(got, claimed) {
		return fmt.Errorf("the index lists it for %s, but its config is for %s", p.String(), got.String())
	}
	return nil
}

// index reads the index d names.
func (l layoutBlobs) index(d v1.Descriptor) (v1.ImageIndex, error) {
	raw, err := l.bytes(d)
	if err != nil {
		return nil, err
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", d.Digest, err)
	}
	return &layoutIndex{blobs: l, desc: d, raw: raw, manifest: im}, nil
}

// layoutImage is an image of a layout whose manifest has been checked.
type layoutImage struct {
	blobs    layoutBlobs
	desc     v1.Descriptor
	raw      []byte
	manifest *v1.Manifest
}

func (i *layoutImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *layoutImage) MediaType() (types.MediaType, error) { return i.desc.MediaType, nil }
func (i *layoutImage) RawConfigFile() ([]byte, error)      { return i.blobs.bytes(i.manifest.Config) }

func (i *layoutImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return layoutLayer{i.blobs, i.manifest.Config}, nil
	}
	for _, d := range i.manifest.Layers {
		if d.Digest == h {
			return layoutLayer{i.blobs, d}, nil
		}
	}
	return nil, fmt.Errorf("manifest %s has no layer %s", i.desc.Digest, h)
}

// layoutLayer is a blob of a layout, checked as it is read.
type layoutLayer struct {
	blobs layoutBlobs
	desc  v1.Descriptor
}

func (l layoutLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l layoutLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l layoutLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l layoutLayer) Compressed() (io.ReadCloser, error)  { return l.blobs.open(l.desc) }
func (l layoutLayer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }

// layoutIndex is an index of a layout whose manifest has been checked.
type layoutIndex struct {
	blobs    layoutBlobs
	desc     v1.Descriptor
	raw      []byte
	manifest *v1.IndexManifest
}

func (x *layoutIndex) MediaType() (types.MediaType, error) { return x.desc.MediaType, nil }
func (x *layoutIndex) Digest() (v1.Hash, error)            { return x.desc.Digest, nil }
func (x *layoutIndex) Size() (int64, error)                { return x.desc.Size, nil }
func (x *layoutIndex) RawManifest() ([]byte, error)        { return x.raw, nil }

func (x *layoutIndex) IndexManifest() (*v1.IndexManifest, error) {
	return x.manifest.DeepCopy(), nil
}

func (x *layoutIndex) Image(h v1.Hash) (v1.Image, error) {
	d, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return x.blobs.image(d)
}

func (x *layoutIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return x.blobs.index(d)
}

func (x *layoutIndex) child(h v1.Hash) (v1.Descriptor, error) {
	for _, d := range x.manifest.Manifests {
		if d.Digest == h {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("index %s has no manifest %s", x.desc.Digest, h)
}

// readLimited reads the file at p, which must be at most limit bytes.
func readLimited(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return data, nil
}
