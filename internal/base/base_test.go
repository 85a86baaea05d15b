package base_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/basetest"
	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
	// arm64v8 is how real indexes (distroless among them) name arm64.
	arm64v8 = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
)

// options reach the test registry anonymously, with the real built-in base.
func options(cacheDir string) base.Options {
	return base.Options{
		Cache:    cache.Cache{Dir: cacheDir},
		Registry: registry.Client{Keychain: registrytest.Anonymous},
		Builtin:  base.Builtin,
	}
}

func resolve(t *testing.T, spec string, o base.Options) *base.Base {
	t.Helper()
	b, err := base.Resolve(context.Background(), spec, o)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", spec, err)
	}
	return b
}

func platforms(t *testing.T, b *base.Base) []v1.Platform {
	t.Helper()
	ps, err := b.Platforms()
	if err != nil {
		t.Fatalf("Platforms of %s: %v", b.Name, err)
	}
	return ps
}

func imageOf(t *testing.T, b *base.Base, p v1.Platform) (v1.Image, v1.Hash) {
	t.Helper()
	img, d, err := b.Image(p)
	if err != nil {
		t.Fatalf("Image(%s) of %s: %v", p, b.Name, err)
	}
	return img, d
}

// checkErr fails t unless err is an error mentioning each of want.
func checkErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestResolveBuiltin(t *testing.T) {
	for _, spec := range []string{"", "builtin", base.BuiltinName} {
		t.Run(spec, func(t *testing.T) {
			b := resolve(t, spec, options(""))
			if !b.IsBuiltin() || b.Name != base.BuiltinName || b.Digest != (v1.Hash{}) {
				t.Errorf("Resolve(%q) = builtin %v, name %q, digest %q; want the built-in base, unpinned", spec, b.IsBuiltin(), b.Name, b.Digest)
			}
			if diff := cmp.Diff(base.BuiltinPlatforms, platforms(t, b)); diff != "" {
				t.Errorf("platforms (-want +got):\n%s", diff)
			}
			for _, p := range []v1.Platform{amd64, arm64, {OS: "linux", Architecture: "arm", Variant: "v7"}} {
				img, d := imageOf(t, b, p)
				want, err := base.Builtin(p)
				if err != nil {
					t.Fatalf("base.Builtin(%s): %v", p, err)
				}
				wd, err := want.Digest()
				if err != nil {
					t.Fatalf("Digest: %v", err)
				}
				if got := digestOf(t, img); got != wd || d != wd {
					t.Errorf("Image(%s) = %s, digest %s; want the built-in %s", p, got, d, wd)
				}
			}
		})
	}
}

func digestOf(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return d
}

func TestImageMissingPlatform(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	reg.Push(t, "base:v1", basetest.Index(t, basetest.OCI))
	b := resolve(t, reg.Host+"/base:v1", options(""))
	for _, p := range []v1.Platform{
		{OS: "linux", Architecture: "s390x"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
	} {
		_, _, err := b.Image(p)
		checkErr(t, err, "no image for "+p.String(), "it offers linux/amd64, linux/arm64")
	}
}

func TestImageConvertsDockerToOCI(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	idx := basetest.Index(t, basetest.Docker)
	reg.Push(t, "docker:v1", idx)
	for _, cache := range []string{"", t.TempDir()} {
		b := resolve(t, reg.Host+"/docker:v1", options(cache))
		if diff := cmp.Diff([]v1.Platform{amd64, arm64}, platforms(t, b)); diff != "" {
			t.Errorf("platforms of a Docker manifest list (-want +got):\n%s", diff)
		}
		for _, p := range []v1.Platform{amd64, arm64} {
			img, d := imageOf(t, b, p)
			orig, err := idx.Image(basetest.Child(t, idx, p))
			if err != nil {
				t.Fatalf("reading the fixture: %v", err)
			}
			if want := digestOf(t, orig); d != want {
				t.Errorf("Image(%s) digest = %s, want the Docker manifest's %s", p, d, want)
			}
			checkOCI(t, img)
			if diff := cmp.Diff(layerDigests(t, orig), layerDigests(t, img)); diff != "" {
				t.Errorf("converting changed the layers (-docker +oci):\n%s", diff)
			}
			if diff := cmp.Diff(configOf(t, orig), configOf(t, img)); diff != "" {
				t.Errorf("converting changed the config (-docker +oci):\n%s", diff)
			}
			if err := validate.Image(img); err != nil {
				t.Errorf("validate.Image of the converted %s: %v", p, err)
			}
		}
	}
}

// checkOCI fails t unless img's manifest, config and layers are all OCI.
func checkOCI(t *testing.T, img v1.Image) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatalf("MediaType: %v", err)
	}
	got := []types.MediaType{mt, m.MediaType, m.Config.MediaType}
	want := []types.MediaType{types.OCIManifestSchema1, types.OCIManifestSchema1, types.OCIConfigJSON}
	for _, l := range m.Layers {
		got = append(got, l.MediaType)
		want = append(want, types.OCILayer)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("media types of image, manifest, config and layers (-want +got):\n%s", diff)
	}
}

func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatalf("Layers: %v", err)
	}
	var out []string
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatalf("Digest: %v", err)
		}
		id, err := l.DiffID()
		if err != nil {
			t.Fatalf("DiffID: %v", err)
		}
		out = append(out, d.String()+" "+id.String())
	}
	return out
}

func configOf(t *testing.T, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("ConfigFile: %v", err)
	}
	return cf
}

func TestImageDropsBaseDescriptions(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	idx := basetest.Index(t, basetest.OCI)
	reg.Push(t, "base:v1", idx)
	b := resolve(t, reg.Host+"/base:v1", options(t.TempDir()))
	for _, p := range []v1.Platform{amd64, arm64} {
		img, d := imageOf(t, b, p)
		if want := basetest.Child(t, idx, p); d != want {
			t.Errorf("Image(%s) digest = %s, want the base's own %s", p, d, want)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatalf("Manifest: %v", err)
		}
		if diff := cmp.Diff(map[string]string{"com.example.keep": "yes"}, m.Annotations); diff != "" {
			t.Errorf("manifest annotations of %s: the base's own description must go (-want +got):\n%s", p, diff)
		}
		orig, err := idx.Image(d)
		if err != nil {
			t.Fatalf("reading the fixture: %v", err)
		}
		if diff := cmp.Diff(layerDigests(t, orig), layerDigests(t, img)); diff != "" {
			t.Errorf("dropping annotations changed the layers (-base +got):\n%s", diff)
		}
		if diff := cmp.Diff(configOf(t, orig), configOf(t, img)); diff != "" {
			t.Errorf("dropping annotations changed the config (-base +got):\n%s", diff)
		}
		checkOCI(t, img)
		if err := validate.Image(img); err != nil {
			t.Errorf("validate.Image(%s): %v", p, err)
		}
	}
}

func TestResolveInvalidReference(t *testing.T) {
	_, err := base.Resolve(context.Background(), "Not A Reference!", options(""))
	checkErr(t, err, "not a valid image reference", "oci:DIR[:TAG]")
}
