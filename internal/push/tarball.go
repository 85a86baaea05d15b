package push

// Policy: the tarball is a function of the image and its tags alone. Its
// entries are sorted by name, each with a fixed time, owner and mode, and the
// layers are streamed from the image, never held in memory.

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/layers"
)

// ErrNoTags refuses a tarball that would name its image by no reference.
var ErrNoTags = errors.New("a tarball needs at least one tag to name its image")

// containerdName is the annotation Docker's and containerd's importers read
// the image's full name from (docker save writes it since Docker 25).
const containerdName = "io.containerd.image.name"

// Tarball writes img at path as one file that is both a docker-archive and
// an OCI image layout archive, as `docker save` writes since Docker 25:
// manifest.json names the image by tags for `docker load` and `podman load`,
// and oci-layout, index.json and blobs/sha256/… hold the manifest itself, so
// that the image's digest can be checked from the file (`skopeo inspect
// oci-archive:FILE`). The file appears whole or not at all, and the same
// image and tags always give the same bytes.
func Tarball(img v1.Image, tags []name.Tag, path string) error {
	if len(tags) == 0 {
		return ErrNoTags
	}
	return atomicfile.Write(path, func(f *os.File) error {
		return WriteArchive(f, img, tags)
	})
}

// WriteArchive writes the tarball of img named by tags (see Tarball) to w.
func WriteArchive(w io.Writer, img v1.Image, tags []name.Tag) error {
	if len(tags) == 0 {
		return ErrNoTags
	}
	a, err := newArchive(img, tags)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: layers.Epoch}); err != nil {
			return fmt.Errorf("writing %s: %w", dir, err)
		}
	}
	for _, b := range a.blobs {
		if err := a.writeBlob(tw, b); err != nil {
			return err
		}
	}
	for _, f := range a.files {
		if err := writeFile(tw, f.name, f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("ending the tarball: %w", err)
	}
	return nil
}

// archive is what a tarball holds: blobs, sorted by digest, and the files
// that name them, sorted by name.
type archive struct {
	blobs []blob
	files []file
}

// blob is one entry under blobs/sha256: its bytes in data, or else a layer
// of the image streamed when written.
type blob struct {
	digest v1.Hash
	size   int64
	data   []byte
	layer  v1.Layer
}

type file struct {
	name string
	data []byte
}

// newArchive reads img's manifest and config, and lays out the tarball.
func newArchive(img v1.Image, tags []name.Tag) (archive, error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return archive{}, fmt.Errorf("reading the manifest: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return archive{}, fmt.Errorf("reading the config: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return archive{}, fmt.Errorf("reading the manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return archive{}, fmt.Errorf("reading the manifest's media type: %w", err)
	}
	digest, _, err := v1.SHA256(bytes.NewReader(manifest))
	if err != nil {
		return archive{}, fmt.Errorf("hashing the manifest: %w", err)
	}
	desc := v1.Descriptor{MediaType: mt, Size: int64(len(manifest)), Digest: digest}
	blobs := map[v1.Hash]blob{
		desc.Digest:     {digest: desc.Digest, size: desc.Size, data: manifest},
		m.Config.Digest: {digest: m.Config.Digest, size: int64(len(config)), data: config},
	}
	legacy := dockerManifest{Config: blobPath(m.Config.Digest)}
	for _, t := range tags {
		legacy.RepoTags = append(legacy.RepoTags, t.String())
	}
	sort.Strings(legacy.RepoTags)
	for _, l := range m.Layers {
		legacy.Layers = append(legacy.Layers, blobPath(l.Digest))
		if _, ok := blobs[l.Digest]; ok {
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return archive{}, fmt.Errorf("reading layer %s: %w", l.Digest, err)
		}
		blobs[l.Digest] = blob{digest: l.Digest, size: l.Size, layer: layer}
	}
	files, err := layoutFiles(desc, tags, legacy)
	if err != nil {
		return archive{}, err
	}
	a := archive{files: files}
	for _, b := range blobs {
		a.blobs = append(a.blobs, b)
	}
	sort.Slice(a.blobs, func(i, j int) bool { return a.blobs[i].digest.String() < a.blobs[j].digest.String() })
	return a, nil
}

// dockerManifest is one entry of a docker-archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// layoutFiles are index.json (an entry per tag, named by the tag as docker
// save names it, and by the full reference for containerd), manifest.json
// and oci-layout, in that order.
func layoutFiles(desc v1.Descriptor, tags []name.Tag, legacy dockerManifest) ([]file, error) {
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, t := range tags {
		d := desc
		d.Annotations = map[string]string{specs.AnnotationRefName: t.TagStr(), containerdName: fullName(t)}
		index.Manifests = append(index.Manifests, d)
	}
	sort.Slice(index.Manifests, func(i, j int) bool {
		return index.Manifests[i].Annotations[containerdName] < index.Manifests[j].Annotations[containerdName]
	})
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return nil, fmt.Errorf("encoding index.json: %w", err)
	}
	manifestJSON, err := json.Marshal([]dockerManifest{legacy})
	if err != nil {
		return nil, fmt.Errorf("encoding manifest.json: %w", err)
	}
	layout, err := json.Marshal(specs.ImageLayout{Version: specs.ImageLayoutVersion})
	if err != nil {
		return nil, fmt.Errorf("encoding oci-layout: %w", err)
	}
	return []file{{"index.json", indexJSON}, {"manifest.json", manifestJSON}, {specs.ImageLayoutFile, layout}}, nil
}

// fullName is t as Docker names it: docker.io/library/app:tag.
func fullName(t name.Tag) string {
	reg := t.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + t.RepositoryStr() + ":" + t.TagStr()
}

func blobPath(h v1.Hash) string {
	return "blobs/" + h.Algorithm + "/" + h.Hex
}

// writeBlob writes b, checking that a streamed layer has the size and
// digest its manifest gives it.
func (a archive) writeBlob(tw *tar.Writer, b blob) error {
	if b.layer == nil {
		return writeFile(tw, blobPath(b.digest), b.data)
	}
	rc, err := b.layer.Compressed()
	if err != nil {
		return fmt.Errorf("reading layer %s: %w", b.digest, err)
	}
	defer rc.Close()
	if err := tw.WriteHeader(header(blobPath(b.digest), b.size)); err != nil {
		return fmt.Errorf("writing layer %s: %w", b.digest, err)
	}
	got, n, err := hashOf(b.digest.Algorithm, io.TeeReader(io.LimitReader(rc, b.size+1), tw))
	if err != nil {
		return fmt.Errorf("writing layer %s: %w", b.digest, err)
	}
	if got != b.digest || n != b.size {
		return fmt.Errorf("layer %s: content is %s, %d bytes; want its manifest's %d bytes", b.digest, got, n, b.size)
	}
	return nil
}

func writeFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(header(name, int64(len(data)))); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// header is a regular file's: root-owned, 0644, at layers.Epoch.
func header(name string, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: layers.Epoch}
}
