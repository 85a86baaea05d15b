package pipeline

import (
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/registry"
)

// Sizes are in bytes.
type Sizes struct {
	Compressed   int64 `json:"compressed"`
	Uncompressed int64 `json:"uncompressed"`
	Uploaded     int64 `json:"uploaded_layer_bytes"`
}

// describe sums the sizes of what the registry holds for the result: each
// distinct layer and config once.
func describe(b build.Result, repo name.Repository, stats registry.Stats) (Result, error) {
	res := Result{Repository: repo.String(), Digest: b.Digest, Version: b.Version, Push: stats,
		Ref: repo.Digest(b.Digest.String())}
	res.Sizes.Uploaded = stats.UploadedBytes
	seen := map[v1.Hash]bool{}
	for _, pi := range b.Images {
		res.Platforms = append(res.Platforms, pi.Platform.String())
		m, err := pi.Image.Manifest()
		if err != nil {
			return Result{}, fmt.Errorf("reading the manifest: %w", err)
		}
		res.Sizes.Compressed += m.Config.Size
		ls, err := pi.Image.Layers()
		if err != nil {
			return Result{}, fmt.Errorf("reading layers: %w", err)
		}
		for i, l := range ls {
			if seen[m.Layers[i].Digest] {
				continue
			}
			seen[m.Layers[i].Digest] = true
			n, err := uncompressedSize(l)
			if err != nil {
				return Result{}, err
			}
			res.Sizes.Compressed += m.Layers[i].Size
			res.Sizes.Uncompressed += n
		}
	}
	return res, nil
}

func uncompressedSize(l v1.Layer) (int64, error) {
	if known, ok := l.(interface{ UncompressedSize() int64 }); ok {
		return known.UncompressedSize(), nil
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, fmt.Errorf("reading a layer: %w", err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return 0, fmt.Errorf("reading a layer: %w", err)
	}
	return n, nil
}
