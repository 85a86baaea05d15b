package e2e

// Builds for several platforms, on the built-in base and on a registry
// base: basetest's distroless-like two-platform index, pushed by crane to
// the docker-registry fixture (TLS and htpasswd), which builder resolves,
// pulls and builds on.

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/buildercli/builder/internal/basetest"
)

// multiPlatform is what the multi-platform tests ask for.
const multiPlatform = "linux/amd64,linux/arm64"

// baseIndexLayout writes basetest's distroless-like OCI base index into an
// OCI layout as its only entry, and returns the layout and the index.
func baseIndexLayout(t *testing.T) (string, v1.ImageIndex) {
	t.Helper()
	idx := basetest.Index(t, basetest.OCI)
	dir := filepath.Join(t.TempDir(), "base")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatalf("layout.Write: %v", err)
	}
	if err := p.AppendIndex(idx); err != nil {
		t.Fatalf("writing the base into %s: %v", dir, err)
	}
	return dir, idx
}

// pushLayout pushes the only entry of the OCI layout dir to ref with crane,
// and returns the digest crane printed.
func (r *registry) pushLayout(t *testing.T, dir, ref string) string {
	t.Helper()
	out := strings.TrimSpace(r.mustCrane(t, "push", dir, ref))
	_, d, ok := strings.Cut(out, "@")
	if !ok || !digestPattern.MatchString(d) {
		t.Fatalf("crane push printed %q, want REPO@DIGEST", out)
	}
	return d
}

// indexOf is the part of an OCI index the tests read.
type indexOf struct {
	MediaType string
	Manifests []struct {
		MediaType string
		Digest    string
		Platform  struct{ OS, Architecture, Variant string }
	}
	Annotations map[string]string
}

// platforms returns "os/arch" of each entry of the index, in order, and
// checks that each is an OCI manifest.
func (idx indexOf) platforms(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range idx.Manifests {
		out = append(out, m.Platform.OS+"/"+m.Platform.Architecture)
		if m.MediaType != ociManifest {
			t.Errorf("index entry %s has media type %s, want %s", m.Digest, m.MediaType, ociManifest)
		}
	}
	return out
}

// readIndexJSON decodes a raw OCI index and checks its media type.
func readIndexJSON(t *testing.T, raw string) indexOf {
	t.Helper()
	var idx indexOf
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		t.Fatalf("decoding the index: %v\n%s", err, raw)
	}
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type %q, want an OCI index", idx.MediaType)
	}
	return idx
}

// exportedBinary extracts the app binary of ref's image for platform with
// crane export, which flattens the image's layers.
func (r *registry) exportedBinary(t *testing.T, ref, platform string) []byte {
	t.Helper()
	fs := filepath.Join(t.TempDir(), "fs.tar")
	r.mustCrane(t, "export", "--platform", platform, ref, fs)
	f, err := os.Open(fs)
	if err != nil {
		t.Fatalf("opening the exported filesystem: %v", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("the %s image has no %s", platform, entrypoint)
		}
		if err != nil {
			t.Fatalf("reading the exported filesystem: %v", err)
		}
		if "/"+strings.TrimPrefix(h.Name, "./") == entrypoint {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("reading %s: %v", entrypoint, err)
			}
			return data
		}
	}
}

// checkStaticELF fails t unless data is a statically linked ELF
// executable for machine.
func checkStaticELF(t *testing.T, data []byte, machine elf.Machine) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the binary is not ELF: %v", err)
	}
	defer f.Close()
	if f.Machine != machine {
		t.Errorf("ELF machine %s, want %s", f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary names a program interpreter: it is dynamically linked")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs %v (%v): it is dynamically linked", libs, err)
	}
}

// layoutConfig returns the config of the image for linux/arch in the OCI
// layout dir, under tag, as skopeo reads it.
func layoutConfig(t *testing.T, dir, arch string) imageConfig {
	t.Helper()
	out := mustRun(t, "skopeo", "--override-os", "linux", "--override-arch", arch, "inspect", "--config", "oci:"+dir+":"+tag)
	var c imageConfig
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("decoding skopeo inspect --config: %v\n%s", err, out)
	}
	return c
}

func TestBuildOnRegistryBase(t *testing.T) {
	requireRegistryTools(t)
	b := built(t)
	t.Parallel()
	reg := startRegistry(t, true)
	baseDir, baseIdx := baseIndexLayout(t)
	baseRef := reg.host + "/base:v1"
	baseDigest := reg.pushLayout(t, baseDir, baseRef)
	if want, err := baseIdx.Digest(); err != nil || baseDigest != want.String() {
		t.Fatalf("crane pushed the base as %s, want %s (%v)", baseDigest, want, err)
	}
	children := map[string]string{}
	for _, m := range readIndexJSON(t, reg.mustCrane(t, "manifest", baseRef)).Manifests {
		children[m.Platform.Architecture] = m.Digest
	}

	clone := cloneAt(t, b.root, filepath.Join(t.TempDir(), "src"), -1)
	out := filepath.Join(t.TempDir(), "layout")
	res := runBuilder(t, b.builder, clone, reg.env("", t.TempDir()), "",
		"build", "./app", "--tag", tag, "--base", baseRef, "--platform", multiPlatform, "--oci-layout", out)
	d := strings.TrimSpace(res.stdout)
	if res.code != 0 || !digestPattern.MatchString(d) {
		t.Fatalf("builder build on %s: %v", baseRef, res)
	}
	if !strings.Contains(res.stderr, "base "+baseRef+" is "+baseDigest) {
		t.Errorf("stderr does not say what the base tag resolved to:\n%s", res.stderr)
	}

	t.Run("valid index", func(t *testing.T) {
		ref := reg.host + "/team/app:multi"
		if got := reg.pushLayout(t, out, ref); got != d {
			t.Fatalf("crane pushed the layout's image as %s, builder printed %s", got, d)
		}
		reg.mustCrane(t, "validate", "--remote", ref)
		idx := readIndexJSON(t, reg.mustCrane(t, "manifest", ref))
		if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, idx.platforms(t)); diff != "" {
			t.Errorf("index platforms (-want +got):\n%s", diff)
		}
		if got := idx.Annotations["org.opencontainers.image.base.digest"]; got != baseDigest {
			t.Errorf("index base digest annotation = %q, want the base index's %s", got, baseDigest)
		}
		for _, platform := range []string{"linux/amd64", "linux/arm64"} {
			raw := reg.mustCrane(t, "manifest", "--platform", platform, ref)
			checkMediaTypes(t, raw)
			var m struct{ Annotations map[string]string }
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatalf("decoding the %s manifest: %v", platform, err)
			}
			// The clone's remote, credentials dropped; never the base's.
			if src := m.Annotations["org.opencontainers.image.source"]; src != "https://example.com/acme/builder" {
				t.Errorf("the %s manifest claims source %q, want the checkout's", platform, src)
			}
			for k, v := range m.Annotations {
				if v == basetest.Source || v == "notyours" {
					t.Errorf("the %s manifest annotation %s=%s comes from the base", platform, k, v)
				}
			}
		}
		checkStaticELF(t, reg.exportedBinary(t, ref, "linux/arm64"), elf.EM_AARCH64)
		checkStaticELF(t, reg.exportedBinary(t, ref, "linux/amd64"), elf.EM_X86_64)
	})
	t.Run("configs", func(t *testing.T) {
		for _, arch := range []string{"amd64", "arm64"} {
			c := layoutConfig(t, out, arch)
			if c.Architecture != arch || c.Config.User != "65532" || c.Config.WorkingDir != "/home/nonroot" {
				t.Errorf("%s: arch %s, user %q, working dir %q; want the base's 65532 in /home/nonroot", arch, c.Architecture, c.Config.User, c.Config.WorkingDir)
			}
			if !slices.Contains(c.Config.Env, "FOO=base") {
				t.Errorf("%s: env %v lacks the base's FOO=base", arch, c.Config.Env)
			}
			want := map[string]string{"org.opencontainers.image.base.name": baseRef,
				"org.opencontainers.image.base.digest": children[arch], "org.opencontainers.image.title": "app",
				"org.opencontainers.image.version": tag, "com.example.keep": "yes"}
			for k, v := range want {
				if c.Config.Labels[k] != v {
					t.Errorf("%s: label %s = %q, want %q", arch, k, c.Config.Labels[k], v)
				}
			}
			for k, v := range c.Config.Labels {
				if v == basetest.Source || v == "9.9.9" || v == "notyours" {
					t.Errorf("%s: label %s=%s comes from the base", arch, k, v)
				}
			}
		}
	})
	t.Run("runs", func(t *testing.T) {
		run := filepath.Join(t.TempDir(), "run")
		mustRun(t, "skopeo", "--override-os", "linux", "--override-arch", "amd64", "copy", "oci:"+out+":"+tag, "oci:"+run+":img")
		c := startContainer(t, containerSpec{Image: run + ":img"})
		c.checkUser(t, nonroot)
		if status, body := c.get(t, "/ping"); status != http.StatusOK || string(body) != `{"message":"pong"}` {
			t.Errorf("GET /ping = %d %s, want 200 pong\n%s", status, body, c.logs())
		}
		c.stop(t)
	})
}

func TestPublishMultiPlatform(t *testing.T) {
	requireRegistryTools(t)
	built(t)
	t.Parallel()
	reg := startRegistry(t, true)
	p := newPublisher(t, reg)
	repo := reg.host + "/team/multi"
	res := p.publish(t, "--tag", "v1.2.0", "--repo", repo, "--platform", multiPlatform)
	d := sameDigest(t, published(t, res.stdout, repo))
	reg.mustCrane(t, "validate", "--remote", repo+":v1.2.0")
	idx := readIndexJSON(t, reg.mustCrane(t, "manifest", repo+":v1.2.0"))
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, idx.platforms(t)); diff != "" {
		t.Errorf("index platforms (-want +got):\n%s", diff)
	}
	if got := strings.TrimSpace(reg.mustCrane(t, "digest", repo+":v1.2.0")); got != d {
		t.Errorf("v1.2.0 is %s, publish printed %s", got, d)
	}
	if got := reg.skopeoDigest(t, "team/multi:v1.2.0"); got != d {
		t.Errorf("skopeo reads v1.2.0 as %s, publish printed %s", got, d)
	}
}

func TestMultiPlatformReproducible(t *testing.T) {
	b := built(t)
	t.Parallel()
	clone := cloneAt(t, b.root, filepath.Join(t.TempDir(), "src"), -1)
	var digests []string
	for range 2 {
		env := []string{"BUILDER_CACHE=" + t.TempDir()}
		res := runBuilder(t, b.builder, clone, env, "",
			"build", "./app", "--tag", tag, "--platform", "linux/arm64,linux/amd64", "--oci-layout", filepath.Join(t.TempDir(), "out"))
		if d := strings.TrimSpace(res.stdout); res.code != 0 || !digestPattern.MatchString(d) {
			t.Fatalf("builder build: %v", res)
		}
		digests = append(digests, strings.TrimSpace(res.stdout))
	}
	if digests[0] != digests[1] {
		t.Errorf("two clean builds of one commit: indexes %s and %s", digests[0], digests[1])
	}
}
