package registrytest

import (
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ReadBlob fetches the blob d from its registry and returns its bytes.
func ReadBlob(t testing.TB, d name.Digest, opts ...remote.Option) []byte {
	t.Helper()
	l, err := remote.Layer(d, opts...)
	if err != nil {
		t.Fatalf("fetching blob %s: %v", d, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatalf("fetching blob %s: %v", d, err)
	}
	blob, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("reading blob %s: %v", d, err)
	}
	return blob
}
