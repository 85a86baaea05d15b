package pipeline

import (
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// countingLayer counts how often its content is read uncompressed.
type countingLayer struct {
	v1.Layer
	reads *int
}

func (l countingLayer) Uncompressed() (io.ReadCloser, error) {
	*l.reads++
	return l.Layer.Uncompressed()
}

// TestLayerSizesReadsEachLayerOnce: the services of a run share their
// base's layers, whose sizes are read once, and right.
func TestLayerSizesReadsEachLayerOnce(t *testing.T) {
	raw, err := random.Layer(4096, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := raw.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.Copy(io.Discard, rc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := raw.Digest()
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	l := countingLayer{Layer: raw, reads: &reads}
	var sizes layerSizes
	for range 8 {
		n, err := sizes.uncompressed(d, l)
		if err != nil || n != want {
			t.Fatalf("uncompressed = %d, %v; want %d", n, err, want)
		}
	}
	if reads != 1 {
		t.Errorf("eight services on one layer: read %d times, want once", reads)
	}
}
