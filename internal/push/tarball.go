package push

import (
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/buildercli/builder/internal/atomicfile"
)

// Tarball writes img as a docker-archive at path, named by tags, so that
// `docker load` and `podman load` give it those names. The file appears
// whole or not at all.
func Tarball(img v1.Image, tags []name.Tag, path string) error {
	refs := make(map[name.Reference]v1.Image, len(tags))
	for _, t := range tags {
		refs[t] = img
	}
	return atomicfile.Write(path, func(f *os.File) error {
		return tarball.MultiRefWrite(refs, f)
	})
}
