package imagespec

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Platformed is one platform's image of an index.
type Platformed struct {
	Platform v1.Platform
	Image    v1.Image
}

// Index joins images, given in platform order, in an OCI image index
// annotated with the labels of its images (f, extra) but for the base
// digest, which differs by platform: the index names baseDigest, the base
// index's, when there is one.
func Index(images []Platformed, f Facts, extra map[string]string, baseDigest string) (v1.ImageIndex, error) {
	if len(images) > 0 {
		if mt, err := images[0].Image.MediaType(); err == nil && mt == types.DockerManifestSchema2 {
			// A Docker manifest list, which has no annotations.
			idx := mutate.IndexMediaType(empty.Index, types.DockerManifestList)
			adds := make([]mutate.IndexAddendum, len(images))
			for i, im := range images {
				p := im.Platform
				adds[i] = mutate.IndexAddendum{Add: plainImage{im.Image}, Descriptor: v1.Descriptor{Platform: &p}}
			}
			return mutate.AppendManifests(idx, adds...), nil
		}
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	adds := make([]mutate.IndexAddendum, len(images))
	for i, im := range images {
		p := im.Platform
		adds[i] = mutate.IndexAddendum{Add: plainImage{im.Image}, Descriptor: v1.Descriptor{Platform: &p}}
	}
	idx = mutate.AppendManifests(idx, adds...)
	f.BaseDigest = ""
	ann := map[string]string{}
	for k, v := range Labels(f, extra) {
		if k != specs.AnnotationBaseImageDigest && v != "" {
			ann[k] = v
		}
	}
	if baseDigest != "" {
		ann[specs.AnnotationBaseImageDigest] = baseDigest
	}
	idx, ok := mutate.Annotations(idx, ann).(v1.ImageIndex)
	if !ok {
		return nil, fmt.Errorf("annotating the index: unexpected type")
	}
	return idx, nil
}

// plainImage is an image whose descriptor carries no artifactType: the
// OCI image spec gives an index entry one only for an artifact, and a tool
// that drops it (skopeo copy --all) would otherwise change the index's
// digest. go-containerregistry sets it to the config's media type.
type plainImage struct{ v1.Image }

// Descriptor implements partial's withDescriptor.
func (i plainImage) Descriptor() (*v1.Descriptor, error) {
	var d v1.Descriptor
	var err error
	if d.MediaType, err = i.MediaType(); err != nil {
		return nil, err
	}
	if d.Digest, err = i.Digest(); err != nil {
		return nil, err
	}
	if d.Size, err = i.Size(); err != nil {
		return nil, err
	}
	return &d, nil
}
