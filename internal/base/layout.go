package base

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// fromLayout reads "oci:DIR[:TAG]": the entry of the layout's index.json
// named TAG, or its only entry when no TAG is given.
func fromLayout(spec string) (*Base, error) {
	dir, tag, _ := strings.Cut(strings.TrimPrefix(spec, "oci:"), ":")
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading base %s: %w", spec, err)
	}
	root, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading base %s: %w", spec, err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading base %s: %w", spec, err)
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
	switch d.MediaType {
	case types.OCIImageIndex, types.DockerManifestList:
		b.index, err = root.ImageIndex(d.Digest)
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
		b.image, err = root.Image(d.Digest)
	default:
		return nil, fmt.Errorf("base %s: %s is a %s, not an image or index", spec, d.Digest, d.MediaType)
	}
	if err != nil {
		return nil, fmt.Errorf("reading base %s: %w", spec, err)
	}
	return b, nil
}
