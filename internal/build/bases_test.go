package build

// Builds on a registry base: basetest's distroless-like two-platform index,
// served by registrytest's in-process registry.

import (
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/basetest"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/moduletest"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
	"github.com/buildercli/builder/internal/vcs"
)

// baseRegistry starts a test registry and pushes each base (REPO:TAG →
// image or index) to it; it returns the registry's host.
func baseRegistry(t *testing.T, refs map[string]any) string {
	t.Helper()
	reg := registrytest.New(t, registrytest.Config{})
	for ref, a := range refs {
		reg.Push(t, ref, a)
	}
	return reg.Host
}

// onBase is options building pkg on base, anonymously, with a cache.
func onBase(t *testing.T, pkg, base string) testOptions {
	t.Helper()
	o := options(pkg)
	o.Tag = "v1.0.0"
	o.Base = base
	o.env.Cache.Dir = t.TempDir()
	o.env.Registry = registry.Client{Keychain: registrytest.Anonymous}
	return o
}

func TestRegistryBaseMultiPlatform(t *testing.T) {
	pkg := moduletest.Hello(t, nil)
	idx, docker := basetest.Index(t, basetest.OCI), basetest.Index(t, basetest.Docker)
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
			if got := im.Annotations[specs.AnnotationBaseImageDigest]; got != res.BaseDigest.String() {
				t.Errorf("index base digest annotation = %q, want the base index's %s", got, res.BaseDigest)
			}
			for i, p := range []v1.Platform{linuxAMD64, linuxARM64} {
				want := basetest.Child(t, tc.base, p)
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
	if diff := cmp.Diff([]string{"PATH=/usr/bin:/bin", "FOO=base"}, c.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	want := map[string]string{
		specs.AnnotationTitle: "hello", specs.AnnotationVersion: "v1.0.0", specs.AnnotationBaseImageName: baseName, specs.AnnotationBaseImageDigest: baseDigest,
		"com.example.keep": "yes",
	}
	if source != "" {
		want[specs.AnnotationSource] = source
	}
	labels := map[string]string{}
	for k, v := range c.Labels {
		if k != specs.AnnotationCreated && k != specs.AnnotationRevision {
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
		if v == basetest.Source || v == "notyours" {
			t.Errorf("manifest annotation %s=%s comes from the base", k, v)
		}
	}
	if got := m.Annotations[specs.AnnotationSource]; got != source {
		t.Errorf("manifest source annotation = %q, want %q", got, source)
	}
}

func TestRegistryBaseAll(t *testing.T) {
	host := baseRegistry(t, map[string]any{"base:v1": basetest.Index(t, basetest.OCI)})
	o := onBase(t, moduletest.Hello(t, nil), host+"/base:v1")
	o.Platform = "all"
	buildMulti(t, o, linuxAMD64, linuxARM64)
}

// brokenModule is a package that does not compile: an error about it
// means a check came too late.
func brokenModule(t *testing.T) string {
	t.Helper()
	return moduletest.Hello(t, map[string]string{"hello/broken.go": "package main\n\nfunc broken() { undefined() }\n"})
}

func TestRegistryBaseRefusals(t *testing.T) {
	host := baseRegistry(t, map[string]any{
		"base:v1":   basetest.Index(t, basetest.OCI),
		"single:v1": basetest.Image(t, linuxAMD64, basetest.OCI),
		"root:v1":   basetest.RunAs(t, basetest.Image(t, linuxAMD64, basetest.OCI), ""),
		"zero:v1":   basetest.RunAs(t, basetest.Image(t, linuxAMD64, basetest.OCI), "0"),
		"named:v1":  basetest.RunAs(t, basetest.Image(t, linuxAMD64, basetest.OCI), "root:root"),
		"zeros:v1":  basetest.RunAs(t, basetest.Image(t, linuxAMD64, basetest.OCI), "00"),
		"ghost:v1":  basetest.RunAs(t, basetest.Image(t, linuxAMD64, basetest.OCI), "ghost"),
	})
	pkg := brokenModule(t)
	for _, tc := range []struct {
		name, base, platform string
		want                 []string
		user                 string
	}{
		{"platform the base lacks", "base:v1", "linux/s390x",
			[]string{"has no image for linux/s390x", "it offers linux/amd64, linux/arm64"}, ""},
		{"one of two the base lacks", "base:v1", "linux/amd64,linux/ppc64le",
			[]string{"has no image for linux/ppc64le", "it offers linux/amd64, linux/arm64"}, ""},
		{"single-platform base, two platforms", "single:v1", "linux/amd64,linux/arm64",
			[]string{"single-platform image (linux/amd64)", "linux/amd64, linux/arm64"}, ""},
		{"single-platform base, another platform", "single:v1", "linux/arm64",
			[]string{"has no image for linux/arm64", "it offers linux/amd64"}, ""},
		{"root base, empty user", "root:v1", "linux/amd64", []string{"runs as root", "--allow-root", "--user"}, ""},
		{"root base, uid 0", "zero:v1", "linux/amd64", []string{`runs as root (user "0")`, "--allow-root"}, ""},
		{"root base, user root", "named:v1", "linux/amd64", []string{`runs as root (user "root:root")`, "--allow-root"}, ""},
		{"root base, uid 00", "zeros:v1", "linux/amd64", []string{`runs as root (user "00")`, "--allow-root"}, ""},
		{"base user not in passwd", "ghost:v1", "linux/amd64", []string{`runs as "ghost"`, "not in the base's /etc/passwd"}, ""},
		{"--user root by name", "base:v1", "linux/amd64", []string{`user "root" would run the image as root`}, "root"},
		{"--user unknown name", "base:v1", "linux/amd64", []string{`user "bob" is not in the base's /etc/passwd`}, "bob"},
		{"--user unknown group", "base:v1", "linux/amd64", []string{`group "nosuchgroup" is not in the base's /etc/group`}, "65532:nosuchgroup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := onBase(t, pkg, host+"/"+tc.base)
			o.Platform = tc.platform
			o.User = tc.user
			_, err := o.image(t)
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
	host := baseRegistry(t, map[string]any{"root:v1": basetest.RunAs(t, basetest.Image(t, linuxAMD64, basetest.OCI), "")})
	pkg := moduletest.Hello(t, nil)
	for _, tc := range []struct {
		name      string
		user      string
		allowRoot bool
		want      string
	}{
		{"a non-root --user", "65532", false, "65532:65532"},
		{"a user name of the base", "nonroot", false, "65532:65532"},
		{"a uid the base lacks", "4242", false, "4242:4242"},
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
