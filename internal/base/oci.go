package base

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/buildercli/builder/internal/imagespec"
)

// toOCI returns img with OCI media types throughout: manifest, config and
// every layer (imagespec.Retype), and without the manifest annotations that
// describe the base itself (org.opencontainers.image.*, org.label-schema.*),
// which would lie about an image built on it, as its labels would. An image
// that already is OCI and has no such annotation is returned as it is.
func toOCI(img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	isOCI, err := imagespec.IsFormat(img, imagespec.FormatOCI)
	if err != nil {
		return nil, err
	}
	keep, describes := baseAnnotations(m.Annotations)
	if isOCI && !describes {
		return img, nil
	}
	out, err := imagespec.Retype(img, imagespec.FormatOCI)
	if err != nil {
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
