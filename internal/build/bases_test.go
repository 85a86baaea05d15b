package build

// Builds on a registry base: a distroless-like two-platform index made here
// and served by ggcr's in-process registry (internal/bases has the same
// fixture, for the resolver's own tests).

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/vcs"
)

// evilSource is what the base's labels claim as the source of an image
// built on it.
const evilSource = "https://evil.example"

// fixtureBase makes the distroless-like base image for p, running as user,
// in Docker media types when docker.
func fixtureBase(t *testing.T, p v1.Platform, user string, docker bool) v1.Image {
	t.Helper()
	mt, cmt, lmt := types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer
	if docker {
		mt, cmt, lmt = types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, data string }{
		{"etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n"},
		{"etc/base-marker", "base for " + p.String() + "\n"},
	} {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}
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
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(lmt))
	if err != nil {
		t.Fatalf("making the base layer: %v", err)
	}
	img, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, mt), cmt), mutate.Addendum{Layer: l, MediaType: lmt})
	if err != nil {
		t.Fatalf("appending the base layer: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("ConfigFile: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config = v1.Config{User: user, Env: []string{"PATH=/usr/bin:/bin", "FOO=base"}, WorkingDir: "/home/nonroot",
		Labels: map[string]string{
			"org.opencontainers.image.source":  evilSource,
			"org.opencontainers.image.title":   "notyours",
			"org.opencontainers.image.version": "9.9.9",
			"org.label-schema.vcs-url":         evilSource,
			"com.example.keep":                 "yes",
		}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatalf("setting the config: %v", err)
	}
	if docker {
		return img
	}
	// buildx puts such labels on the manifest too; builder sets some of
	// these keys itself, never description or url.
	return mutate.Annotations(img, map[string]string{LabelSource: evilSource, LabelTitle: "notyours",
		"org.opencontainers.image.description": "notyours", "org.opencontainers.image.url": evilSource}).(v1.Image)
}

// fixtureIndex makes the two-platform base: arm64 (named linux/arm64/v8, as
// distroless does) before amd64.
func fixtureIndex(t *testing.T, user string, docker bool) v1.ImageIndex {
	t.Helper()
	mt := types.OCIImageIndex
	if docker {
		mt = types.DockerManifestList
	}
	var adds []mutate.IndexAddendum
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}, linuxAMD64} {
		adds = append(adds, mutate.IndexAddendum{Add: fixtureBase(t, p, user, docker), Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, mt), adds...)
}

// baseRegistry starts ggcr's registry and pushes each base (REPO:TAG →
// image or index) to it; it returns the registry's host.
func baseRegistry(t *testing.T, refs map[string]any) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for ref, a := range refs {
		tag, err := name.NewTag(host + "/" + ref)
		if err != nil {
			t.Fatalf("NewTag: %v", err)
		}
		switch a := a.(type) {
		case v1.Image:
			err = remote.Write(tag, a, remote.WithAuth(authn.Anonymous))
		case v1.ImageIndex:
			err = remote.WriteIndex(tag, a, remote.WithAuth(authn.Anonymous))
		}
		if err != nil {
			t.Fatalf("pushing %s: %v", tag, err)
		}
	}
	return host
}

type anonymousKeychain struct{}

func (anonymousKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.Anonymous, nil
}

// onBase is options building pkg on base, anonymously, with a cache.
func onBase(t *testing.T, pkg, base string) Options {
	t.Helper()
	o := options(pkg)
	o.Tag = "v1.0.0"
	o.Base = base
	o.CacheDir = t.TempDir()
	o.Registry = push.Remote{Keychain: anonymousKeychain{}}
	return o
}

// baseChild returns the digest of idx's image for p.
func baseChild(t *testing.T, idx v1.ImageIndex, p v1.Platform) v1.Hash {
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
	t.Fatalf("the base has no image for %s", p)
	return v1.Hash{}
}

func TestRegistryBaseMultiPlatform(t *testing.T) {
	pkg := module(t, nil)
	idx, docker := fixtureIndex(t, "65532", false), fixtureIndex(t, "65532", true)
	host := baseRegistry(t, map[string]any{"base:v1": idx, "docker:v1": docker})
	for _, tc := range []struct {
		name   string
		repo   string
		base   v1.ImageIndex
		source string // the checkout's remote; none when empty
	}{
		{"OCI base, git source", "base:v1", idx, "https://example.com/acme/hello"},
		{"OCI base, no git", "base:v1", idx, ""},
		{"Docker base", "docker:v1", docker, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := host + "/" + tc.repo
			o := onBase(t, pkg, ref)
			o.Platform = "linux/amd64,linux/arm64"
			o.Git = &vcs.Info{}
			if tc.source != "" {
				o.Git = &vcs.Info{Repo: true, Commit: strings.Repeat("ab", 20), ShortCommit: "abababa", Source: tc.source,
					Describe: "abababa", Time: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
			}
			res := buildMulti(t, o, linuxAMD64, linuxARM64)
			if want, err := tc.base.Digest(); err != nil || res.BaseDigest != want || res.Base != ref {
				t.Errorf("result base %s %s, want %s %s (%v)", res.Base, res.BaseDigest, ref, want, err)
			}
			im, err := res.Index.IndexManifest()
			if err != nil {
				t.Fatalf("IndexManifest: %v", err)
			}
			if got := im.Annotations[LabelBaseDigest]; got != res.BaseDigest.String() {
				t.Errorf("index base digest annotation = %q, want the base index's %s", got, res.BaseDigest)
			}
			for i, p := range []v1.Platform{linuxAMD64, linuxARM64} {
				want := baseChild(t, tc.base, p)
				if res.Images[i].BaseDigest != want {
					t.Errorf("%s: BaseDigest %s, want the base's %s image %s", p, res.Images[i].BaseDigest, p, want)
				}
				checkInherited(t, childImage(t, res, p), ref, want.String(), tc.source)
			}
		})
	}
}

// checkInherited checks what an image built on the fixture keeps of it,
// and that none of the base's own descriptive labels survive.
func checkInherited(t *testing.T, img v1.Image, baseName, baseDigest, source string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("ConfigFile: %v", err)
	}
	c := cf.Config
	if c.User != "65532" || c.WorkingDir != "/home/nonroot" {
		t.Errorf("user %q, working dir %q; want the base's 65532 and /home/nonroot", c.User, c.WorkingDir)
	}
	if diff := cmp.Diff([]string{"PATH=/usr/bin:/bin", "FOO=base", "PORT=8080", "GIN_MODE=release"}, c.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	want := map[string]string{
		LabelTitle: "hello", LabelVersion: "v1.0.0", LabelBaseName: baseName, LabelBaseDigest: baseDigest,
		"com.example.keep": "yes",
	}
	if source != "" {
		want[LabelSource] = source
	}
	labels := map[string]string{}
	for k, v := range c.Labels {
		if k != LabelCreated && k != LabelRevision {
			labels[k] = v
		}
	}
	if diff := cmp.Diff(want, labels); diff != "" {
		t.Errorf("labels but created and revision (-want +got):\n%s", diff)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	for k, v := range m.Annotations {
		if v == evilSource || v == "notyours" {
			t.Errorf("manifest annotation %s=%s comes from the base", k, v)
		}
	}
	if got := m.Annotations[LabelSource]; got != source {
		t.Errorf("manifest source annotation = %q, want %q", got, source)
	}
}

func TestRegistryBaseAll(t *testing.T) {
	host := baseRegistry(t, map[string]any{"base:v1": fixtureIndex(t, "65532", false)})
	o := onBase(t, module(t, nil), host+"/base:v1")
	o.Platform = "all"
	buildMulti(t, o, linuxAMD64, linuxARM64)
}

// brokenModule is a package that does not compile: an error about it
// means a check came too late.
func brokenModule(t *testing.T) string {
	t.Helper()
	return module(t, map[string]string{"hello/broken.go": "package main\n\nfunc broken() { undefined() }\n"})
}

func TestRegistryBaseRefusals(t *testing.T) {
	host := baseRegistry(t, map[string]any{
		"base:v1":   fixtureIndex(t, "65532", false),
		"single:v1": fixtureBase(t, linuxAMD64, "65532", false),
		"root:v1":   fixtureBase(t, linuxAMD64, "", false),
		"zero:v1":   fixtureBase(t, linuxAMD64, "0", false),
		"named:v1":  fixtureBase(t, linuxAMD64, "root:root", false),
	})
	pkg := brokenModule(t)
	for _, tc := range []struct {
		name, base, platform string
		want                 []string
	}{
		{"platform the base lacks", "base:v1", "linux/s390x",
			[]string{"has no image for linux/s390x", "it offers linux/amd64, linux/arm64"}},
		{"one of two the base lacks", "base:v1", "linux/amd64,linux/ppc64le",
			[]string{"has no image for linux/ppc64le", "it offers linux/amd64, linux/arm64"}},
		{"single-platform base, two platforms", "single:v1", "linux/amd64,linux/arm64",
			[]string{"single-platform image (linux/amd64)", "linux/amd64, linux/arm64"}},
		{"single-platform base, another platform", "single:v1", "linux/arm64",
			[]string{"has no image for linux/arm64", "it offers linux/amd64"}},
		{"root base, empty user", "root:v1", "linux/amd64", []string{"runs as root", "--allow-root", "--user"}},
		{"root base, uid 0", "zero:v1", "linux/amd64", []string{`runs as root (user "0")`, "--allow-root"}},
		{"root base, user root", "named:v1", "linux/amd64", []string{`runs as root (user "root:root")`, "--allow-root"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := onBase(t, pkg, host+"/"+tc.base)
			o.Platform = tc.platform
			_, err := Image(context.Background(), o, t.TempDir(), io.Discard)
			if err == nil {
				t.Fatalf("Image worked, want an error mentioning %q", tc.want)
			}
			var ce *gobuild.CompileError
			if errors.As(err, &ce) {
				t.Fatalf("compiled before refusing: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRegistryBaseRootAllowed(t *testing.T) {
	host := baseRegistry(t, map[string]any{"root:v1": fixtureBase(t, linuxAMD64, "", false)})
	pkg := module(t, nil)
	for _, tc := range []struct {
		name      string
		user      string
		allowRoot bool
		want      string
	}{
		{"a non-root --user", "65532", false, "65532"},
		{"--allow-root", "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := onBase(t, pkg, host+"/root:v1")
			o.Platform = "linux/amd64"
			o.User, o.AllowRoot = tc.user, tc.allowRoot
			res, _ := buildImage(t, o)
			cf, err := res.Image.ConfigFile()
			if err != nil {
				t.Fatalf("ConfigFile: %v", err)
			}
			if cf.Config.User != tc.want {
				t.Errorf("user = %q, want %q", cf.Config.User, tc.want)
			}
		})
	}
}
