package bases

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
// every layer. An image that already is OCI is returned as it is.
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
	if isOCI {
		return img, nil
	}
	out := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	adds := make([]mutate.Addendum, len(ls))
	for i, l := range ls {
		mt, ok := ociLayerTypes[m.Layers[i].MediaType]
		if !ok {
			return nil, fmt.Errorf("layer %s has media type %s, which has no OCI equivalent", m.Layers[i].Digest, m.Layers[i].MediaType)
		}
		adds[i] = mutate.Addendum{Layer: l, MediaType: mt}
	}
	out, err = mutate.Append(out, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	return mutate.ConfigFile(out, cf.DeepCopy())
}
