package base_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/basetest"
)

// refName names an entry of an OCI layout, as skopeo's oci:DIR:TAG does.
const refName = "org.opencontainers.image.ref.name"

// writeLayout writes entries (tag → image or index) into a new OCI layout,
// each named by its tag, and returns its directory.
func writeLayout(t *testing.T, entries map[string]any) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatalf("layout.Write: %v", err)
	}
	for tag, a := range entries {
		ann := layout.WithAnnotations(map[string]string{refName: tag})
		switch a := a.(type) {
		case v1.Image:
			err = p.AppendImage(a, ann)
		case v1.ImageIndex:
			err = p.AppendIndex(a, ann)
		default:
			t.Fatalf("cannot write a %T", a)
		}
		if err != nil {
			t.Fatalf("writing %s into the layout: %v", tag, err)
		}
	}
	return dir
}

func TestResolveLayout(t *testing.T) {
	idx := basetest.Index(t, basetest.OCI)
	single := basetest.Image(t, amd64, basetest.OCI)
	both := writeLayout(t, map[string]any{"v1": idx, "single": single})
	onlyIndex := writeLayout(t, map[string]any{"v1": idx})
	idxDigest, err := idx.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	singleDigest := digestOf(t, single)
	for _, tc := range []struct {
		name, spec string
		digest     v1.Hash
		platforms  []v1.Platform
	}{
		{"index by tag", "oci:" + both + ":v1", idxDigest, []v1.Platform{amd64, arm64}},
		{"image by tag", "oci:" + both + ":single", singleDigest, []v1.Platform{amd64}},
		{"only entry", "oci:" + onlyIndex, idxDigest, []v1.Platform{amd64, arm64}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := resolve(t, tc.spec, options(""))
			if b.Name != tc.spec || b.Digest != tc.digest || b.IsBuiltin() {
				t.Errorf("Resolve = %s %s (builtin %v), want %s %s", b.Name, b.Digest, b.IsBuiltin(), tc.spec, tc.digest)
			}
			if diff := cmp.Diff(tc.platforms, platforms(t, b)); diff != "" {
				t.Errorf("platforms (-want +got):\n%s", diff)
			}
			for _, p := range tc.platforms {
				img, _ := imageOf(t, b, p)
				checkOCI(t, img)
				if err := validate.Image(img); err != nil {
					t.Errorf("validate.Image(%s): %v", p, err)
				}
			}
		})
	}
	for _, tc := range []struct{ name, spec, want string }{
		{"ambiguous without a tag", "oci:" + both, "2 images match; name one with oci:" + both + ":TAG"},
		{"unknown tag", "oci:" + both + ":v2", `no image named "v2"`},
		{"not a layout", "oci:" + t.TempDir(), "reading base oci:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := base.Resolve(context.Background(), tc.spec, options(""))
			checkErr(t, err, tc.want)
		})
	}
}

func TestResolveDockerArchive(t *testing.T) {
	img := basetest.Image(t, amd64, basetest.Docker)
	other := basetest.Image(t, arm64, basetest.Docker)
	dir := t.TempDir()
	one := filepath.Join(dir, "one.tar")
	tag, err := name.NewTag("example.com/base:v1")
	if err != nil {
		t.Fatalf("NewTag: %v", err)
	}
	if err := tarball.WriteToFile(one, tag, img); err != nil {
		t.Fatalf("tarball.WriteToFile: %v", err)
	}
	two := filepath.Join(dir, "two.tar")
	otherTag, err := name.NewTag("example.com/other:v2")
	if err != nil {
		t.Fatalf("NewTag: %v", err)
	}
	if err := tarball.MultiWriteToFile(two, map[name.Tag]v1.Image{tag: img, otherTag: other}); err != nil {
		t.Fatalf("tarball.MultiWriteToFile: %v", err)
	}
	for _, tc := range []struct {
		name, spec string
		platform   v1.Platform
	}{
		{"only image", "docker-archive:" + one, amd64},
		{"named image", "docker-archive:" + two + ":example.com/other:v2", arm64},
		{"named image, the other", "docker-archive:" + two + ":example.com/base:v1", amd64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := resolve(t, tc.spec, options(""))
			if b.Name != tc.spec || b.Digest == (v1.Hash{}) {
				t.Errorf("Resolve = %s %s, want %s pinned", b.Name, b.Digest, tc.spec)
			}
			if diff := cmp.Diff([]v1.Platform{tc.platform}, platforms(t, b)); diff != "" {
				t.Errorf("platforms (-want +got):\n%s", diff)
			}
			got, d := imageOf(t, b, tc.platform)
			if d != b.Digest {
				t.Errorf("Image digest %s, Resolve digest %s: the same image should have one", d, b.Digest)
			}
			checkOCI(t, got)
			if err := validate.Image(got); err != nil {
				t.Errorf("validate.Image: %v", err)
			}
			if cf := configOf(t, got); cf.Config.Labels["com.example.keep"] != "yes" || cf.Architecture != tc.platform.Architecture {
				t.Errorf("config of %s: arch %s, labels %v", tc.spec, cf.Architecture, cf.Config.Labels)
			}
		})
	}
	t.Run("several images, none named", func(t *testing.T) {
		_, err := base.Resolve(context.Background(), "docker-archive:"+two, options(""))
		checkErr(t, err, "reading base docker-archive:"+two)
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := base.Resolve(context.Background(), "docker-archive:"+filepath.Join(dir, "nope.tar"), options(""))
		checkErr(t, err, "nope.tar")
	})
}

// A docker-archive states no layer digest, but its config states each
// layer's diff ID, which an image built on it repeats: a layer whose content
// is not what its diff ID says is refused.
func TestResolveDockerArchiveVerifiesLayers(t *testing.T) {
	img := basetest.Image(t, amd64, basetest.Docker)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("ConfigFile: %v", err)
	}
	cf = cf.DeepCopy()
	real := cf.RootFS.DiffIDs[0]
	cf.RootFS.DiffIDs[0] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	lying, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("mutate.ConfigFile: %v", err)
	}
	p := filepath.Join(t.TempDir(), "base.tar")
	tag, err := name.NewTag("example.com/base:v1")
	if err != nil {
		t.Fatalf("NewTag: %v", err)
	}
	if err := tarball.WriteToFile(p, tag, lying); err != nil {
		t.Fatalf("tarball.WriteToFile: %v", err)
	}
	_, err = base.Resolve(context.Background(), "docker-archive:"+p, options(""))
	if !errors.Is(err, base.ErrBlobMismatch) {
		t.Fatalf("Resolve = %v, want ErrBlobMismatch", err)
	}
	checkErr(t, err, "layer 1: content hashes to "+real.String(), "diff ID is sha256:abab")
}
