package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/registry"
)

// containerdNameAnnotation carries the full reference, for `ctr import`.
const containerdNameAnnotation = "io.containerd.image.name"

// Layout writes an image or index into the OCI image layout at dir, creating it if needed,
// under tag.TagStr(). An entry already under that tag is replaced, never
// duplicated. Blobs land before index.json, and index.json is replaced
// atomically, so a failure leaves the layout as it was.
func Layout(a registry.Artifact, tag name.Tag, dir string) (err error) {
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, fs.ErrNotExist)
	p, err := openLayout(dir)
	if err != nil {
		return err
	}
	if created {
		defer func() {
			if err != nil {
				_ = os.RemoveAll(dir)
			}
		}()
	}
	switch t := a.(type) {
	case v1.Image:
		err = p.WriteImage(t)
	case v1.ImageIndex:
		err = p.WriteIndex(t)
	default:
		err = fmt.Errorf("cannot write a %T", a)
	}
	if err != nil {
		return fmt.Errorf("writing blobs to %s: %w", dir, err)
	}
	desc, err := partial.Descriptor(a)
	if err != nil {
		return fmt.Errorf("describing the image: %w", err)
	}
	d := *desc
	d.Annotations = map[string]string{specs.AnnotationRefName: tag.TagStr(), containerdNameAnnotation: tag.Name()}
	idx, err := p.ImageIndex()
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	im = im.DeepCopy()
	kept := im.Manifests[:0]
	for _, m := range im.Manifests {
		if m.Annotations[specs.AnnotationRefName] != tag.TagStr() {
			kept = append(kept, m)
		}
	}
	im.Manifests = append(kept, d)
	data, err := json.MarshalIndent(im, "", "   ")
	if err != nil {
		return fmt.Errorf("encoding the index of %s: %w", dir, err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, "index.json"), data)
}

// openLayout returns the layout at dir, creating an empty one when dir does
// not exist or is an empty directory.
func openLayout(dir string) (layout.Path, error) {
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err == nil {
		return layout.FromPath(dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("opening %s: %w", dir, err)
	}
	if len(entries) > 0 {
		return "", fmt.Errorf("%s: not an OCI image layout (it has files but no oci-layout); pick a new or empty directory", dir)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", fmt.Errorf("creating an OCI layout in %s: %w", dir, err)
	}
	return p, nil
}
