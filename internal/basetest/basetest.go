// Package basetest makes a distroless-like base, as an image per platform or a multi-platform index, for tests of building on a base.
package basetest

import (
	"archive/tar"
	"bytes"
	"io"
	"maps"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Source is the source the base's labels and annotations claim for images
// built on it; no such image may repeat it.
const Source = "https://evil.example"

// MediaTypes names the family of media types of a fixture's index,
// manifests, configs and layers.
type MediaTypes int

const (
	// OCI uses OCI media types, and annotates each manifest as buildx does.
	OCI MediaTypes = iota
	// Docker uses Docker media types, which carry no annotations.
	Docker
)

// labels are the base's labels: the org.opencontainers and org.label-schema
// ones would lie about an image built on it; com.example.keep is harmless.
var labels = map[string]string{
	"org.opencontainers.image.source":  Source,
	"org.opencontainers.image.title":   "notyours",
	"org.opencontainers.image.version": "9.9.9",
	"org.label-schema.vcs-url":         Source,
	"com.example.keep":                 "yes",
}

// annotations are an OCI image's manifest annotations: images built with
// buildx often carry their labels there too, and more that builder never
// sets itself (description, url).
var annotations = map[string]string{
	"org.opencontainers.image.source":      Source,
	"org.opencontainers.image.title":       "notyours",
	"org.opencontainers.image.description": "notyours",
	"org.opencontainers.image.url":         Source,
	"org.label-schema.name":                "notyours",
	"com.example.keep":                     "yes",
}

// epoch is the time of every file, history entry and config.
var epoch = time.Unix(0, 0).UTC()

// layer returns the base's one layer, of media type mt: accounts, the
// non-root home, /tmp and a marker naming platform p.
func layer(t testing.TB, p v1.Platform, mt types.MediaType) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755, ModTime: epoch},
		{Typeflag: tar.TypeDir, Name: "home/", Mode: 0o755, ModTime: epoch},
		{Typeflag: tar.TypeDir, Name: "home/nonroot/", Mode: 0o700, Uid: 65532, Gid: 65532, ModTime: epoch},
		{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing %s: %v", h.Name, err)
		}
	}
	for _, f := range []struct{ name, data string }{
		{"etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		{"etc/group", "root:x:0:\nnonroot:x:65532:\n"},
		{"etc/base-marker", "distroless-like base for " + p.String() + "\n"},
	} {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: epoch}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing %s: %v", f.name, err)
		}
		if _, err := io.WriteString(tw, f.data); err != nil {
			t.Fatalf("writing %s: %v", f.name, err)
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
		t.Fatalf("making the base layer: %v", err)
	}
	return l
}

// Image makes the base's image for p: one layer, run as the non-root user
// 65532 in /home/nonroot, with FOO=base in its environment and labels (and,
// in OCI, annotations) that would lie about an image built on it.
func Image(t testing.TB, p v1.Platform, mts MediaTypes) v1.Image {
	t.Helper()
	mt, cmt, lmt := types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer
	if mts == Docker {
		mt, cmt, lmt = types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, mt), cmt)
	img, err := mutate.Append(img, mutate.Addendum{Layer: layer(t, p, lmt), MediaType: lmt,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "fixture"}})
	if err != nil {
		t.Fatalf("appending the base layer: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("reading the config: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		User:       "65532",
		Env:        []string{"PATH=/usr/bin:/bin", "FOO=base"},
		WorkingDir: "/home/nonroot",
		Labels:     maps.Clone(labels),
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatalf("setting the config: %v", err)
	}
	if mts == Docker {
		return img
	}
	return mutate.Annotations(img, annotations).(v1.Image)
}

// Index makes the two-platform base: arm64 (named linux/arm64/v8, as
// distroless does) before amd64, so that order is the index's, not a sorted
// one; in OCI, plus an attestation-like entry for unknown/unknown that no
// build may pick.
func Index(t testing.TB, mts MediaTypes) v1.ImageIndex {
	t.Helper()
	mt := types.OCIImageIndex
	if mts == Docker {
		mt = types.DockerManifestList
	}
	platforms := []v1.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "amd64"}}
	if mts == OCI {
		platforms = append(platforms, v1.Platform{OS: "unknown", Architecture: "unknown"})
	}
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		adds = append(adds, mutate.IndexAddendum{Add: Image(t, p, mts), Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, mt), adds...)
}

// RunAs returns img set to run as user; "" leaves the user to the
// runtime, which makes it root.
func RunAs(t testing.TB, img v1.Image, user string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("reading the config: %v", err)
	}
	cf = cf.DeepCopy()
	cf.Config.User = user
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("setting the config: %v", err)
	}
	return img
}

// Child returns the digest of idx's image for p, matched by OS and
// architecture (so linux/arm64 finds linux/arm64/v8).
func Child(t testing.TB, idx v1.ImageIndex, p v1.Platform) v1.Hash {
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
