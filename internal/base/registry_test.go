package base_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/basetest"
	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
)

func TestResolveRegistryTag(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	idx := basetest.Index(t, basetest.OCI)
	want := reg.Push(t, "base:v1", idx)
	for _, tc := range []struct {
		name  string
		cache bool
	}{{"no cache", false}, {"cache", true}} {
		t.Run(tc.name, func(t *testing.T) {
			o := options("")
			if tc.cache {
				o.Cache = cache.Cache{Dir: t.TempDir()}
			}
			var log bytes.Buffer
			o.Log = &log
			ref := reg.Host + "/base:v1"
			b := resolve(t, ref, o)
			if b.Digest != want || b.Name != ref || b.IsBuiltin() {
				t.Errorf("Resolve = %s digest %s (builtin %v), want %s digest %s", b.Name, b.Digest, b.IsBuiltin(), ref, want)
			}
			if diff := cmp.Diff("base "+ref+" is "+want.String()+"\n", log.String()); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]v1.Platform{amd64, arm64}, platforms(t, b)); diff != "" {
				t.Errorf("platforms: sorted, arm64/v8 as arm64, unknown/unknown dropped (-want +got):\n%s", diff)
			}
			for _, p := range []v1.Platform{amd64, arm64, arm64v8} {
				img, d := imageOf(t, b, p)
				if wd := basetest.Child(t, idx, p); d != wd {
					t.Errorf("Image(%s) digest = %s, want the index's child %s", p, d, wd)
				}
				cf, err := img.ConfigFile()
				if err != nil {
					t.Fatalf("ConfigFile: %v", err)
				}
				if cf.Architecture != p.Architecture || cf.Config.User != "65532" {
					t.Errorf("Image(%s) config: arch %s, user %q", p, cf.Architecture, cf.Config.User)
				}
			}
		})
	}
}

func TestResolveOfflineFromCache(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	idx := basetest.Index(t, basetest.OCI)
	d := reg.Push(t, "base:v1", idx)
	pinned := reg.Host + "/base@" + d.String()
	cache := t.TempDir()
	first := resolve(t, pinned, options(cache))
	if first.Digest != d {
		t.Fatalf("Resolve(%s) digest = %s", pinned, first.Digest)
	}

	reg.Close()
	_, err := base.Resolve(context.Background(), pinned, options(t.TempDir()))
	if err == nil {
		t.Fatalf("resolving with an empty cache after the registry stopped worked: the test proves nothing")
	}
	_, err = base.Resolve(context.Background(), reg.Host+"/base:v1", options(cache))
	checkErr(t, err, "resolving base", "pin it by digest")

	b := resolve(t, pinned, options(cache))
	if b.Digest != d || b.Name != pinned {
		t.Errorf("offline Resolve = %s %s, want %s %s", b.Name, b.Digest, pinned, d)
	}
	if diff := cmp.Diff([]v1.Platform{amd64, arm64}, platforms(t, b)); diff != "" {
		t.Errorf("offline platforms (-want +got):\n%s", diff)
	}
	for _, p := range []v1.Platform{amd64, arm64} {
		img, got := imageOf(t, b, p)
		if want := basetest.Child(t, idx, p); got != want {
			t.Errorf("offline Image(%s) digest = %s, want %s", p, got, want)
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("offline Image(%s) does not read back whole: %v", p, err)
		}
	}
}

func TestResolveSinglePlatform(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	img := basetest.Image(t, amd64, basetest.OCI)
	want := reg.Push(t, "single:v1", img)
	b := resolve(t, reg.Host+"/single:v1", options(t.TempDir()))
	if b.Digest != want {
		t.Errorf("digest = %s, want the image's %s", b.Digest, want)
	}
	if diff := cmp.Diff([]v1.Platform{amd64}, platforms(t, b)); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	if _, d := imageOf(t, b, amd64); d != want {
		t.Errorf("Image(amd64) digest = %s, want %s", d, want)
	}
	_, _, err := b.Image(arm64)
	checkErr(t, err, "single-platform image for linux/amd64, not linux/arm64", "--platform linux/amd64")
}

// TestResolveExplainsRegistryErrors: a base's registry errors go through
// the registry client's explainer, as a push's do: refused credentials say
// to log in, not to pin the base.
func TestResolveExplainsRegistryErrors(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	d := reg.Push(t, "base:v1", basetest.Index(t, basetest.OCI))
	reg.RequireAuth("ci", "s3cret")
	for _, ref := range []string{reg.Host + "/base:v1", reg.Host + "/base@" + d.String()} {
		t.Run(ref, func(t *testing.T) {
			_, err := base.Resolve(context.Background(), ref, options(t.TempDir()))
			if !registry.IsAuth(err) {
				t.Fatalf("Resolve = %v, want an access-denied error", err)
			}
			checkErr(t, err, "builder login")
			if strings.Contains(err.Error(), "pin it by digest") {
				t.Errorf("error %q suggests pinning for refused credentials", err)
			}
		})
	}
}
