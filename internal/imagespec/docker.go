package imagespec

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media type formats an image may be written in.
const (
	// FormatOCI is OCI media types throughout.
	FormatOCI = "oci"
	// FormatDocker is Docker's schema 2 media types. podman keeps a
	// HEALTHCHECK only from a Docker-typed config, whether it pulls or
	// loads the image; Docker keeps it from either. skopeo's oci: transport
	// reads no Docker-typed manifest, and copying one into an OCI layout
	// converts it, changing its digest.
	FormatDocker = "docker"
)

// formats are the media types of each format: manifest, config, and each
// layer media type's counterpart. The bytes stay, and so do the digests of
// the config and the layers.
var formats = map[string]struct {
	manifest, config types.MediaType
	layers           map[types.MediaType]types.MediaType
}{
	FormatOCI: {types.OCIManifestSchema1, types.OCIConfigJSON, map[types.MediaType]types.MediaType{
		types.DockerLayer:             types.OCILayer,
		types.OCILayer:                types.OCILayer,
		types.DockerUncompressedLayer: types.OCIUncompressedLayer,
		types.OCIUncompressedLayer:    types.OCIUncompressedLayer,
		types.OCILayerZStd:            types.OCILayerZStd,
	}},
	FormatDocker: {types.DockerManifestSchema2, types.DockerConfigJSON, map[types.MediaType]types.MediaType{
		types.OCILayer:                types.DockerLayer,
		types.DockerLayer:             types.DockerLayer,
		types.OCIUncompressedLayer:    types.DockerUncompressedLayer,
		types.DockerUncompressedLayer: types.DockerUncompressedLayer,
	}},
}

// IsFormat reports whether img's manifest, config and layers all have the
// media types of format already.
func IsFormat(img v1.Image, format string) (bool, error) {
	f := formats[format]
	m, err := img.Manifest()
	if err != nil {
		return false, err
	}
	ok := m.MediaType == f.manifest && m.Config.MediaType == f.config
	for _, d := range m.Layers {
		ok = ok && f.layers[d.MediaType] == d.MediaType
	}
	return ok, nil
}

// Retype returns img with the media types of format throughout: manifest,
// config and every layer, with the same config and layer bytes (and layer
// annotations and URLs). It sets no manifest annotations: the caller says
// which an image keeps.
func Retype(img v1.Image, format string) (v1.Image, error) {
	f, ok := formats[format]
	if !ok {
		return nil, fmt.Errorf("unknown image format %q", format)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := mutate.ConfigMediaType(mutate.MediaType(empty.Image, f.manifest), f.config)
	adds := make([]mutate.Addendum, len(ls))
	for i, l := range ls {
		mt, ok := f.layers[m.Layers[i].MediaType]
		if !ok {
			return nil, fmt.Errorf("layer %s has media type %s, which has no %s counterpart", m.Layers[i].Digest, m.Layers[i].MediaType, format)
		}
		adds[i] = mutate.Addendum{Layer: typedLayer{Layer: l, mt: mt}, MediaType: mt,
			Annotations: m.Layers[i].Annotations, URLs: m.Layers[i].URLs}
	}
	if out, err = mutate.Append(out, adds...); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	return mutate.ConfigFile(out, cf.DeepCopy())
}

// typedLayer is a layer under another media type, with its bytes.
type typedLayer struct {
	v1.Layer
	mt types.MediaType
}

func (l typedLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
