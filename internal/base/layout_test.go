package base_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/basetest"
)

func blobPath(dir string, h v1.Hash) string {
	return filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
}

// editJSON decodes the JSON file at p, lets edit change it and writes it
// back.
func editJSON(t *testing.T, p string, edit func(m map[string]any)) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decoding %s: %v", p, err)
	}
	edit(m)
	if data, err = json.Marshal(m); err != nil {
		t.Fatalf("encoding %s: %v", p, err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
	return data
}

// setIndexSize makes every entry of the layout's index.json for d say that
// it has size bytes, so that only its digest can tell the blob was changed.
func setIndexSize(t *testing.T, dir string, d v1.Hash, size int) {
	t.Helper()
	editJSON(t, filepath.Join(dir, "index.json"), func(m map[string]any) {
		for _, e := range m["manifests"].([]any) {
			if e := e.(map[string]any); e["digest"] == d.String() {
				e["size"] = size
			}
		}
	})
}

// flipByte changes one byte in the middle of the file at p.
func flipByte(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
}

// A local base is verified like a pulled one: a manifest, index or config
// that does not hash to the digest naming it is refused.
func TestResolveLayoutVerifiesManifests(t *testing.T) {
	img := basetest.Image(t, amd64, basetest.OCI)
	imgDigest := digestOf(t, img)
	idx := basetest.Index(t, basetest.OCI)
	idxDigest, err := idx.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	for _, tc := range []struct {
		name   string
		entry  any
		tamper func(t *testing.T, dir string)
		want   []string
	}{
		{"manifest edited, size in index.json fixed up", img, func(t *testing.T, dir string) {
			data := editJSON(t, blobPath(dir, imgDigest), func(m map[string]any) {
				m["annotations"] = map[string]any{"evil": "yes"}
			})
			setIndexSize(t, dir, imgDigest, len(data))
		}, []string{imgDigest.String(), "content hashes to sha256:"}},
		{"manifest with a flipped byte", img, func(t *testing.T, dir string) {
			flipByte(t, blobPath(dir, imgDigest))
		}, []string{imgDigest.String(), "content hashes to sha256:"}},
		{"manifest longer than its descriptor says", img, func(t *testing.T, dir string) {
			editJSON(t, blobPath(dir, imgDigest), func(m map[string]any) {
				m["annotations"] = map[string]any{"evil": strings.Repeat("x", 4096)}
			})
		}, []string{imgDigest.String(), "longer than its size"}},
		{"index edited, size fixed up", idx, func(t *testing.T, dir string) {
			data := editJSON(t, blobPath(dir, idxDigest), func(m map[string]any) {
				m["annotations"] = map[string]any{"evil": "yes"}
			})
			setIndexSize(t, dir, idxDigest, len(data))
		}, []string{idxDigest.String(), "content hashes to sha256:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeLayout(t, map[string]any{"v1": tc.entry})
			tc.tamper(t, dir)
			_, err := base.Resolve(context.Background(), "oci:"+dir+":v1", options(""))
			if !errors.Is(err, base.ErrBlobMismatch) {
				t.Fatalf("Resolve of a tampered layout = %v, want ErrBlobMismatch", err)
			}
			checkErr(t, err, tc.want...)
		})
	}
}

// What an index names, and an image's config, are checked when they are
// read.
func TestImageOfLayoutVerifiesBlobs(t *testing.T) {
	idx := basetest.Index(t, basetest.OCI)
	child := basetest.Child(t, idx, amd64)
	childImg, err := idx.Image(child)
	if err != nil {
		t.Fatalf("reading the fixture: %v", err)
	}
	m, err := childImg.Manifest()
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	for _, tc := range []struct {
		name    string
		blob    v1.Hash
		content func(t *testing.T, img v1.Image) error // reads what the test corrupted
	}{
		{"child manifest", child, nil},
		{"config", m.Config.Digest, nil},
		{"layer", m.Layers[0].Digest, func(t *testing.T, img v1.Image) error {
			ls, err := img.Layers()
			if err != nil {
				t.Fatalf("Layers: %v", err)
			}
			rc, err := ls[0].Compressed()
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, rc)
			if cerr := rc.Close(); err == nil {
				err = cerr
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeLayout(t, map[string]any{"v1": idx})
			flipByte(t, blobPath(dir, tc.blob))
			b := resolve(t, "oci:"+dir+":v1", options(""))
			img, _, err := b.Image(amd64)
			if err == nil && tc.content != nil {
				err = tc.content(t, img)
			}
			if !errors.Is(err, base.ErrBlobMismatch) {
				t.Fatalf("reading a corrupt %s = %v, want ErrBlobMismatch", tc.name, err)
			}
			checkErr(t, err, tc.blob.String())
			// The other platform's blobs are intact.
			if _, _, err := b.Image(arm64); err != nil {
				t.Errorf("Image(arm64): %v", err)
			}
		})
	}
}

// An index entry that says amd64 for an image whose config is arm64 gets no
// amd64 build.
func TestImageOfLayoutChecksPlatform(t *testing.T) {
	armImg := basetest.Image(t, arm64, basetest.OCI)
	armv7 := v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	for _, tc := range []struct {
		name    string
		claimed v1.Platform
		config  v1.Image
		want    string // "" for no error
	}{
		{"arm64 config listed as amd64", amd64, armImg, "the index lists it for linux/amd64, but its config is for linux/arm64"},
		{"arm64 config listed as arm64/v8", arm64v8, armImg, ""},
		{"arm/v6 config listed as arm/v7", armv7, basetest.Image(t, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, basetest.OCI),
			"the index lists it for linux/arm/v7, but its config is for linux/arm/v6"},
		{"arm config without a variant listed as arm/v7", armv7, basetest.Image(t, v1.Platform{OS: "linux", Architecture: "arm"}, basetest.OCI), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: tc.config, Descriptor: v1.Descriptor{Platform: &tc.claimed}})
			dir := writeLayout(t, map[string]any{"v1": idx})
			b := resolve(t, "oci:"+dir+":v1", options(""))
			_, _, err := b.Image(tc.claimed)
			if tc.want == "" {
				if err != nil {
					t.Errorf("Image(%s) = %v, want no error", tc.claimed, err)
				}
				return
			}
			checkErr(t, err, tc.want, digestOf(t, tc.config).String())
		})
	}
	t.Run("top-level entry of the layout", func(t *testing.T) {
		dir := writeLayout(t, map[string]any{"v1": armImg})
		editJSON(t, filepath.Join(dir, "index.json"), func(m map[string]any) {
			m["manifests"].([]any)[0].(map[string]any)["platform"] = map[string]any{"os": "linux", "architecture": "amd64"}
		})
		_, err := base.Resolve(context.Background(), "oci:"+dir+":v1", options(""))
		checkErr(t, err, "the index lists it for linux/amd64, but its config is for linux/arm64")
	})
}

// A blob whose descriptor claims more than is read into memory is refused
// before it is read.
func TestResolveLayoutBoundsManifests(t *testing.T) {
	img := basetest.Image(t, amd64, basetest.OCI)
	dir := writeLayout(t, map[string]any{"v1": img})
	setIndexSize(t, dir, digestOf(t, img), 1<<40)
	_, err := base.Resolve(context.Background(), "oci:"+dir+":v1", options(""))
	checkErr(t, err, "size 1099511627776 is out of bounds")
}
