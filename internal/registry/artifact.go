package registry

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// Artifact is what builder delivers: a v1.Image, or a v1.ImageIndex of
// images for several platforms.
type Artifact interface {
	partial.Describable
	RawManifest() ([]byte, error)
}

// layersOf lists the distinct layers of an image or of every image of an
// index, in order of first appearance.
func layersOf(a Artifact) ([]v1.Layer, error) {
	var images []v1.Image
	switch t := a.(type) {
	case v1.Image:
		images = []v1.Image{t}
	case v1.ImageIndex:
		im, err := t.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading the index: %w", err)
		}
		for _, m := range im.Manifests {
			img, err := t.Image(m.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading image %s: %w", m.Digest, err)
			}
			images = append(images, img)
		}
	default:
		return nil, fmt.Errorf("cannot push a %T", a)
	}
	seen := map[v1.Hash]bool{}
	var out []v1.Layer
	for _, img := range images {
		ls, err := img.Layers()
		if err != nil {
			return nil, fmt.Errorf("reading layers: %w", err)
		}
		for _, l := range ls {
			d, err := l.Digest()
			if err != nil {
				return nil, fmt.Errorf("computing a layer digest: %w", err)
			}
			if !seen[d] {
				seen[d] = true
				out = append(out, l)
			}
		}
	}
	return out, nil
}
