package pipeline

import (
	"fmt"
	"io"
	"sync"

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
// distinct layer and config once; sizes keeps what layers uncompress to.
func describe(b build.Result, repo name.Repository, stats registry.Stats, sizes *layerSizes) (Result, error) {
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
			n, err := sizes.uncompressed(m.Layers[i].Digest, l)
			if err != nil {
				return Result{}, err
			}
			res.Sizes.Compressed += m.Layers[i].Size
			res.Sizes.Uncompressed += n
		}
	}
	return res, nil
}

// layerSizes keeps the uncompressed size of each layer it was asked about,
// by digest: the services of a run share their base's layers, which
// would otherwise be read whole once a service.
type layerSizes struct {
	mu sync.Mutex // held while a layer is read
	n  map[v1.Hash]int64
}

// uncompressed returns the uncompressed size of l, whose digest is d.
func (s *layerSizes) uncompressed(d v1.Hash, l v1.Layer) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.n[d]; ok {
		return n, nil
	}
	n, err := uncompressedSize(l)
	if err != nil {
		return 0, err
	}
	if s.n == nil {
		s.n = map[v1.Hash]int64{}
	}
	s.n[d] = n
	return n, nil
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
