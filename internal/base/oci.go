package base

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/buildercli/builder/internal/imagespec"
)

// ociLayerTypes maps each layer media type to its OCI equivalent: the bytes
// stay, so a layer's digest does too.
var ociLayerTypes = map[types.MediaType]types.MediaType{
	types.DockerLayer:             types.OCILayer,
	types.OCILayer:                types.OCILayer,
	types.DockerUncompressedLayer: types.OCIUncompressedLayer,
	types.OCIUncompressedLayer:    types.OCIUncompressedLayer,
	types.OCILayerZStd:            types.OCILayerZStd,
}

// toOCI returns img with OCI media types throughout: manifest, config and
// every layer, and without the manifest annotations that describe the base
// itself (org.opencontainers.image.*, org.label-schema.*), which would lie
// about an image built on it, as its labels would. An image that already is
// OCI and has no such annotation is returned as it is.
func toOCI(img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	isOCI := m.MediaType == types.OCIManifestSchema1 && m.Config.MediaType == types.OCIConfigJSON
	for _, d := range m.Layers {
		isOCI = isOCI && ociLayerTypes[d.MediaType] == d.MediaType
	}
	keep, describes := baseAnnotations(m.Annotations)
	if isOCI && !describes {
		return img, nil
	}
	out := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	adds := make([]mutate.Addendum, len(ls))
	for i, l := range ls {
		mt, ok := ociLayerTypes[m.Layers[i].MediaType]
		if !ok {
			return nil, fmt.Errorf("layer %s has media type %s, which has no OCI equivalent", m.Layers[i].Digest, m.Layers[i].MediaType)
		}
		adds[i] = mutate.Addendum{Layer: ociLayer{Layer: l, mt: mt}, MediaType: mt,
			Annotations: m.Layers[i].Annotations, URLs: m.Layers[i].URLs}
	}
	out, err = mutate.Append(out, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	if out, err = mutate.ConfigFile(out, cf.DeepCopy()); err != nil {
		return nil, err
	}
	if len(keep) > 0 {
		out = mutate.Annotations(out, keep).(v1.Image)
	}
	return out, nil
}

// baseAnnotations returns the manifest annotations an image built on the
// base may keep, and whether any were left out.
func baseAnnotations(ann map[string]string) (map[string]string, bool) {
	keep := map[string]string{}
	for k, v := range ann {
		if !imagespec.DescribesImage(k) {
			keep[k] = v
		}
	}
	return keep, len(keep) < len(ann)
}

// ociLayer is a layer under its OCI media type; its bytes, and so its
// digest, are the original's.
type ociLayer struct {
	v1.Layer
	mt types.MediaType
}

func (l ociLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
