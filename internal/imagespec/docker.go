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

// dockerLayerTypes maps each OCI layer media type to Docker's: the bytes
// stay, and so does the digest.
var dockerLayerTypes = map[types.MediaType]types.MediaType{
	types.OCILayer:                types.DockerLayer,
	types.DockerLayer:             types.DockerLayer,
	types.OCIUncompressedLayer:    types.DockerUncompressedLayer,
	types.DockerUncompressedLayer: types.DockerUncompressedLayer,
}

// toDocker returns img with Docker media types: manifest, config and every
// layer, with the same config and layer bytes. A Docker manifest has no
// annotations; the labels in the config say the same.
func toDocker(img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.DockerManifestSchema2), types.DockerConfigJSON)
	adds := make([]mutate.Addendum, len(ls))
	for i, l := range ls {
		mt, ok := dockerLayerTypes[m.Layers[i].MediaType]
		if !ok {
			return nil, fmt.Errorf("layer %s has media type %s, which Docker's format has no match for: use --format oci", m.Layers[i].Digest, m.Layers[i].MediaType)
		}
		adds[i] = mutate.Addendum{Layer: typedLayer{Layer: l, mt: mt}, MediaType: mt}
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
