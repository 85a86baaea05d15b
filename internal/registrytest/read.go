package registrytest

import (
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// Referrers lists the digests of what refers to subject, by the referrers
// API or its fallback tag.
func Referrers(t testing.TB, subject name.Digest, opts ...remote.Option) []v1.Hash {
	t.Helper()
	idx, err := remote.Referrers(subject, opts...)
	if err != nil {
		t.Fatalf("listing the referrers of %s: %v", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("listing the referrers of %s: %v", subject, err)
	}
	var out []v1.Hash
	for _, m := range im.Manifests {
		out = append(out, m.Digest)
	}
	return out
}
