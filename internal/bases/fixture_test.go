package bases_test

// This file holds the fixtures of the bases tests: a distroless-like base
// made here (one small layer per platform, a non-root user, labels that
// would lie about an image built on it), in OCI or Docker media types, and
// ggcr's in-process registry to serve it.

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
	// arm64v8 is how real indexes (distroless among them) name arm64.
	arm64v8 = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
)

// baseLabels are the base's labels: the org.opencontainers ones would lie
// about an image built on it; com.example.keep is harmless.
var baseLabels = map[string]string{
	"org.opencontainers.image.source":  "https://evil.example",
	"org.opencontainers.image.title":   "notyours",
	"org.opencontainers.image.version": "9.9.9",
	"org.label-schema.vcs-url":         "https://evil.example/vcs",
	"com.example.keep":                 "yes",
}

// baseAnnotations are the OCI fixture's manifest annotations: images built
// with buildx often carry their labels there too.
var baseAnnotations = map[string]string{
	"org.opencontainers.image.source": "https://evil.example",
	"org.opencontainers.image.title":  "notyours",
	"org.label-schema.name":           "notyours",
	"com.example.keep":                "yes",
}

// flavour is how a fixture image differs from the distroless-like default.
type flavour struct {
	// Docker uses Docker media types for the manifest, config and layer.
	Docker bool
}

// layerOf returns a gzipped tar layer, of media type mt, holding files
// (path → content) with a fixed time.
func layerOf(t *testing.T, files map[string]string, mt types.MediaType) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"etc/", "home/", "home/nonroot/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatalf("writing %s: %v", dir, err)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: int64(len(files[p])), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing %s: %v", p, err)
		}
		if _, err := io.WriteString(tw, files[p]); err != nil {
			t.Fatalf("writing %s: %v", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("closing the tar: %v", err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(mt))
	if err != nil {
		t.Fatalf("making a layer: %v", err)
	}
	return l
}

// baseImage makes the distroless-like image for p.
func baseImage(t *testing.T, p v1.Platform, f flavour) v1.Image {
	t.Helper()
	mt, cmt, lmt := types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer
	if f.Docker {
		mt, cmt, lmt = types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer
	}
	files := map[string]string{
		"etc/passwd":      "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
		"etc/group":       "root:x:0:\nnonroot:x:65532:\n",
		"etc/base-marker": "distroless-like base for " + p.String() + "\n",
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, mt), cmt)
	img, err := mutate.Append(img, mutate.Addendum{Layer: layerOf(t, files, lmt), MediaType: lmt,
		History: v1.History{Created: v1.Time{Time: time.Unix(0, 0).UTC()}, CreatedBy: "fixture"}})
	if err != nil {
		t.Fatalf("appending the base layer: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("reading the config: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		User:       "65532",
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "FOO=base"},
		WorkingDir: "/home/nonroot",
		Labels:     map[string]string{},
	}
	for k, v := range baseLabels {
		cf.Config.Labels[k] = v
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatalf("setting the config: %v", err)
	}
	if f.Docker {
		return img
	}
	return mutate.Annotations(img, baseAnnotations).(v1.Image)
}

// baseIndex makes the two-platform base: arm64 (as linux/arm64/v8) before
// amd64, so that order is the index's, not a sorted one, plus an
// attestation-like entry for unknown/unknown that no build may pick.
func baseIndex(t *testing.T, f flavour) v1.ImageIndex {
	t.Helper()
	mt := types.OCIImageIndex
	if f.Docker {
		mt = types.DockerManifestList
	}
	unknown := v1.Platform{OS: "unknown", Architecture: "unknown"}
	idx := mutate.IndexMediaType(empty.Index, mt)
	var adds []mutate.IndexAddendum
	for _, p := range []v1.Platform{arm64v8, amd64} {
		adds = append(adds, mutate.IndexAddendum{Add: baseImage(t, p, f), Descriptor: v1.Descriptor{Platform: &p}})
	}
	if !f.Docker {
		att := baseImage(t, unknown, f)
		adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &unknown}})
	}
	return mutate.AppendManifests(idx, adds...)
}

// testRegistry is ggcr's in-process registry; Close stops it.
type testRegistry struct {
	Host string
	srv  *httptest.Server
}

func newRegistry(t *testing.T) *testRegistry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return &testRegistry{Host: strings.TrimPrefix(srv.URL, "http://"), srv: srv}
}

// Close stops the registry: later requests to it fail.
func (r *testRegistry) Close() { r.srv.Close() }

// push writes an image or index to the registry as ref (REPO:TAG under
// the registry) and returns its digest.
func (r *testRegistry) push(t *testing.T, ref string, a any) v1.Hash {
	t.Helper()
	tag, err := name.NewTag(r.Host + "/" + ref)
	if err != nil {
		t.Fatalf("NewTag: %v", err)
	}
	var d v1.Hash
	switch a := a.(type) {
	case v1.Image:
		err = remote.Write(tag, a, remote.WithAuth(authn.Anonymous))
		if err == nil {
			d, err = a.Digest()
		}
	case v1.ImageIndex:
		err = remote.WriteIndex(tag, a, remote.WithAuth(authn.Anonymous))
		if err == nil {
			d, err = a.Digest()
		}
	default:
		t.Fatalf("cannot push a %T", a)
	}
	if err != nil {
		t.Fatalf("pushing %s: %v", tag, err)
	}
	return d
}

// childDigest returns the digest of idx's image for p (compared with its
// variant normalized).
func childDigest(t *testing.T, idx v1.ImageIndex, p v1.Platform) v1.Hash {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("IndexManifest: %v", err)
	}
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.OS == p.OS && m.Platform.Architecture == p.Architecture {
			return m.Digest
		}
	}
	t.Fatalf("the index has no image for %s", p)
	return v1.Hash{}
}
