package resolve_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/moduletest"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
	"github.com/buildercli/builder/internal/resolve"
)

// shop writes moduletest.Shop and makes it the current directory.
func shop(t *testing.T) {
	t.Helper()
	t.Chdir(moduletest.Shop(t))
}

func testEnv() build.Env {
	return build.Env{HostArch: runtime.GOARCH, Environ: os.Environ(), Log: io.Discard,
		Registry: registry.Client{Keychain: registrytest.Anonymous}}
}

// TestResolve resolves deploy.yaml: each distinct package is pushed once,
// by digest alone, and the YAML comes back with its digests and nothing
// else changed.
func TestResolve(t *testing.T) {
	shop(t)
	reg := registrytest.New(t, registrytest.Config{Referrers: true})
	var out bytes.Buffer
	o := resolve.Options{Files: []string{"deploy.yaml"}, Repo: reg.Host + "/shop",
		Build: build.Request{Tag: "v1.0.0", SBOM: true, Provenance: true}}
	if err := resolve.Resolve(context.Background(), o, strings.NewReader(""), &out, testEnv()); err != nil {
		t.Fatalf("Resolve: %v", err)
	}

	refs := regexp.MustCompile(regexp.QuoteMeta(reg.Host)+`/shop/(api|worker)@sha256:[0-9a-f]{64}`).FindAllStringSubmatch(out.String(), -1)
	digests := map[string]string{}
	for _, m := range refs {
		if prev, ok := digests[m[1]]; ok && prev != m[0] {
			t.Errorf("%s is resolved to both %s and %s", m[1], prev, m[0])
		}
		digests[m[1]] = m[0]
	}
	if len(refs) != 3 || len(digests) != 2 {
		t.Fatalf("got %d references to %d images, want 3 to 2:\n%s", len(refs), len(digests), out.String())
	}
	want := strings.NewReplacer(
		"image: ko://example.com/shop/cmd/api", "image: "+digests["api"],
		`image: "ko://example.com/shop/cmd/api"`, `image: "`+digests["api"]+`"`,
		"image: ko://example.com/shop/cmd/worker", "image: "+digests["worker"],
	).Replace(moduletest.ShopYAML)
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("resolved YAML (-want +got):\n%s", diff)
	}

	// Each image was pushed once, by digest, with its SBOM and provenance
	// (a manifest each); no tag was written.
	for _, repo := range []string{"shop/api", "shop/worker"} {
		n := 0
		for _, q := range reg.Requests() {
			if q.Kind == registrytest.KindManifestDigest && q.Repo == repo && q.Served {
				n++
			}
		}
		if n != 3 {
			t.Errorf("%s: %d manifests pushed, want 3 (the image, its SBOM and provenance)", repo, n)
		}
	}
	if n := reg.Count(registrytest.KindManifestTag); n != 0 {
		t.Errorf("%d tags written, want none", n)
	}
	// The registry holds each image under the digest the YAML names.
	for _, ref := range digests {
		d, err := name.NewDigest(strings.Replace(ref, reg.Host, reg.Direct, 1))
		if err != nil {
			t.Fatalf("NewDigest(%s): %v", ref, err)
		}
		desc, err := remote.Head(d, remote.WithAuth(authn.Anonymous))
		if err != nil {
			t.Fatalf("HEAD %s: %v", d, err)
		}
		if desc.Digest.String() != d.DigestStr() {
			t.Errorf("%s: the registry holds %s", ref, desc.Digest)
		}
	}
}

// TestResolveBadInput: each fails on one line naming the file and
// document, prints nothing and pushes nothing, although the first
// document names a package that builds.
func TestResolveBadInput(t *testing.T) {
	const first = "image: ko://example.com/shop/cmd/api\n---\n"
	for _, tc := range []struct {
		name, yaml string
		files      []string
		want       string
	}{
		{name: "not a main package", yaml: first + "image: ko://example.com/shop/lib\n",
			want: "bad.yaml: document 2: ko://example.com/shop/lib: example.com/shop/lib is not a main package (package lib): give the directory or import path of a main package"},
		{name: "no such package", yaml: first + "image: ko://example.com/shop/cmd/nope\n",
			want: "bad.yaml: document 2: ko://example.com/shop/cmd/nope: finding package example.com/shop/cmd/nope: "},
		{name: "no package", yaml: first + "image: ko://\n",
			want: "bad.yaml: document 2: ko:// names no package: write ko://IMPORT/PATH"},
		{name: "YAML that does not parse", yaml: first + "a: 1\n b: c\n",
			want: "bad.yaml: document 2: yaml: line 4: mapping values are not allowed in this context"},
		{name: "missing file", files: []string{"deploy.yaml", "missing.yaml"},
			want: "missing.yaml: no such file or directory"},
		{name: "directory without YAML", files: []string{"cmd"},
			want: "cmd: no .yaml, .yml or .json file in the directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shop(t)
			if tc.files == nil {
				if err := os.WriteFile("bad.yaml", []byte(tc.yaml), 0o644); err != nil {
					t.Fatal(err)
				}
				tc.files = []string{"bad.yaml"}
			}
			reg := registrytest.New(t, registrytest.Config{})
			var out bytes.Buffer
			o := resolve.Options{Files: tc.files, Repo: reg.Host + "/shop"}
			err := resolve.Resolve(context.Background(), o, strings.NewReader(""), &out, testEnv())
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Resolve: %v, want one line starting %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout: %q, want nothing", out.String())
			}
			if n := reg.Writes(); n != 0 {
				t.Errorf("%d writes to the registry, want none", n)
			}
		})
	}
}

// TestResolveStdin reads the YAML from stdin, and keeps a document with no
// reference as it was.
func TestResolveStdin(t *testing.T) {
	shop(t)
	reg := registrytest.New(t, registrytest.Config{})
	in := "# no image here\nkind: ConfigMap # kept\ndata: {a: b}\n"
	var out bytes.Buffer
	o := resolve.Options{Files: []string{resolve.Stdin}, Repo: reg.Host + "/shop"}
	if err := resolve.Resolve(context.Background(), o, strings.NewReader(in), &out, testEnv()); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if diff := cmp.Diff(in, out.String()); diff != "" {
		t.Errorf("YAML (-want +got):\n%s", diff)
	}
	if n := reg.Writes(); n != 0 {
		t.Errorf("%d writes to the registry, want none", n)
	}
}

// TestResolveTwoSpellings: an import path and a directory that name one
// package are one image, built once (it once waited for its own lock).
func TestResolveTwoSpellings(t *testing.T) {
	shop(t)
	reg := registrytest.New(t, registrytest.Config{Referrers: true})
	in := "a: ko://example.com/shop/cmd/api\nb: ko://./cmd/api\n"
	o := resolve.Options{Files: []string{"-"}, Repo: reg.Host + "/shop", Build: build.Request{Tag: "v1.0.0"}}
	env := testEnv()
	env.Cache.Dir = t.TempDir() // binaries in the cache, each behind its lock
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- resolve.Resolve(context.Background(), o, strings.NewReader(in), &out, env) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("Resolve still runs after 2 minutes")
	}
	refs := regexp.MustCompile(`(?m)^[ab]: (\S+)$`).FindAllStringSubmatch(out.String(), -1)
	if len(refs) != 2 || refs[0][1] != refs[1][1] || !strings.Contains(refs[0][1], "/shop/api@sha256:") {
		t.Errorf("resolved:\n%s\nwant both spellings resolved to one image", out.String())
	}
}

// TestResolveNamesAsSettings: an image goes to REPO/NAME with the NAME
// the service's settings give, as publish names it, not the package's.
func TestResolveNamesAsSettings(t *testing.T) {
	shop(t)
	settings := "builds:\n- main: ./cmd/api\n  builder:\n    name: storefront\n"
	if err := os.WriteFile(".ko.yaml", []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := registrytest.New(t, registrytest.Config{Referrers: true})
	in := "a: ko://example.com/shop/cmd/api\nb: ko://example.com/shop/cmd/worker\n"
	o := resolve.Options{Files: []string{"-"}, Repo: reg.Host + "/shop", Build: build.Request{Tag: "v1.0.0"}}
	var out bytes.Buffer
	if err := resolve.Resolve(context.Background(), o, strings.NewReader(in), &out, testEnv()); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := regexp.MustCompile(`^a: ` + regexp.QuoteMeta(reg.Host) + `/shop/storefront@sha256:[0-9a-f]{64}\nb: ` +
		regexp.QuoteMeta(reg.Host) + `/shop/worker@sha256:[0-9a-f]{64}\n$`)
	if !want.MatchString(out.String()) {
		t.Errorf("resolved:\n%s\nwant api under its settings' name, storefront", out.String())
	}
}
