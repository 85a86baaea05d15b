package build

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// index joins the platforms' images in an OCI image index, in platform
// order, annotated like its images but for the per-platform base digest.
func (pl *plan) index(images []PlatformImage) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	adds := make([]mutate.IndexAddendum, len(images))
	for i, im := range images {
		p := im.Platform
		adds[i] = mutate.IndexAddendum{Add: im.Image, Descriptor: v1.Descriptor{Platform: &p}}
	}
	idx = mutate.AppendManifests(idx, adds...)
	ann := map[string]string{}
	for k, v := range pl.meta.labels(pl.src.name, pl.base.Name, "", pl.o.Labels) {
		if k != LabelBaseDigest && v != "" {
			ann[k] = v
		}
	}
	if pl.base.Digest.Hex != "" {
		ann[LabelBaseDigest] = pl.base.Digest.String()
	}
	idx, ok := mutate.Annotations(idx, ann).(v1.ImageIndex)
	if !ok {
		return nil, fmt.Errorf("annotating the index: unexpected type")
	}
	return idx, nil
}
