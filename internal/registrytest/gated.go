package registrytest

import (
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Gated returns l, whose compressed content cannot be read until open is
// closed: a push of it is held while the test looks at what else runs.
func Gated(l v1.Layer, open <-chan struct{}) v1.Layer {
	return gatedLayer{Layer: l, open: open}
}

type gatedLayer struct {
	v1.Layer
	open <-chan struct{}
}

func (g gatedLayer) Compressed() (io.ReadCloser, error) {
	<-g.open
	return g.Layer.Compressed()
}
