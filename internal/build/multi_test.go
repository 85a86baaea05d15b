package build

import (
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/moduletest"
)

var (
	linuxAMD64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	linuxARM64 = v1.Platform{OS: "linux", Architecture: "arm64"}
	// elfMachine is the ELF machine of each platform's binary.
	elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
)

// buildMulti builds o, which must name several platforms, and checks what
// every index must be: an OCI index, valid, of images in OCI media types
// throughout, one per platform in the order of want, each the result's
// image for it.
func buildMulti(t *testing.T, o testOptions, want ...v1.Platform) Result {
	t.Helper()
	res, err := o.image(t)
	if err != nil {
		t.Fatalf("Image(--platform %s): %v", o.Platform, err)
	}
	if res.Index == nil || res.Image != nil || res.Artifact != res.Index {
		t.Fatalf("result: index %v, image %v, artifact %T; want an index as the artifact", res.Index, res.Image, res.Artifact)
	}
	if mt, err := res.Index.MediaType(); err != nil || mt != types.OCIImageIndex {
		t.Errorf("index media type = %s (%v), want %s", mt, err, types.OCIImageIndex)
	}
	if d, err := res.Index.Digest(); err != nil || d != res.Digest {
		t.Errorf("index digest = %s (%v), result digest %s", d, err, res.Digest)
	}
	if err := validate.Index(res.Index); err != nil {
		t.Errorf("validate.Index: %v", err)
	}
	im, err := res.Index.IndexManifest()
	if err != nil {
		t.Fatalf("IndexManifest: %v", err)
	}
	var got []v1.Platform
	for i, m := range im.Manifests {
		if m.Platform != nil {
			got = append(got, *m.Platform)
		}
		if m.MediaType != types.OCIManifestSchema1 {
			t.Errorf("manifest %d has media type %s, want %s", i, m.MediaType, types.OCIManifestSchema1)
		}
		if i < len(res.Images) && (res.Images[i].Digest != m.Digest || res.Images[i].Platform.String() != m.Platform.String()) {
			t.Errorf("index entry %d is %s for %s; Result.Images has %s for %s", i, m.Digest, m.Platform, res.Images[i].Digest, res.Images[i].Platform)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("index platforms (-want +got):\n%s", diff)
	}
	if len(res.Images) != len(want) {
		t.Fatalf("Result.Images has %d entries, want %d", len(res.Images), len(want))
	}
	for _, p := range want {
		checkAllOCI(t, childImage(t, res, p))
	}
	return res
}

// checkAllOCI fails t unless img's manifest, config and layers are OCI.
func checkAllOCI(t *testing.T, img v1.Image) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	got := []types.MediaType{m.MediaType, m.Config.MediaType}
	want := []types.MediaType{types.OCIManifestSchema1, types.OCIConfigJSON}
	for _, l := range m.Layers {
		got, want = append(got, l.MediaType), append(want, types.OCILayer)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("media types of manifest, config and layers (-want +got):\n%s", diff)
	}
}

// appBinary returns the file at path (without its leading slash) in img's
// last layer, the application layer.
func appBinary(t *testing.T, img v1.Image, path string) []byte {
	t.Helper()
	ls, err := img.Layers()
	if err != nil || len(ls) == 0 {
		t.Fatalf("Layers: %d, %v", len(ls), err)
	}
	rc, err := ls[len(ls)-1].Uncompressed()
	if err != nil {
		t.Fatalf("reading the application layer: %v", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("the application layer has no %s", path)
		}
		if err != nil {
			t.Fatalf("reading the application layer: %v", err)
		}
		if strings.TrimPrefix(h.Name, "./") == strings.TrimPrefix(path, "/") {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("reading %s: %v", path, err)
			}
			return data
		}
	}
}

// checkStaticELF fails t unless data is an ELF executable for machine,
// linked statically: no program interpreter, no needed libraries.
func checkStaticELF(t *testing.T, data []byte, machine elf.Machine) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not an ELF file: %v", err)
	}
	defer f.Close()
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Errorf("ELF machine %s, type %s; want %s, %s", f.Machine, f.Type, machine, elf.ET_EXEC)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary names a program interpreter: it is dynamically linked")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatalf("reading DT_NEEDED: %v", err)
	}
	if len(libs) > 0 {
		t.Errorf("the binary needs %v: it is dynamically linked", libs)
	}
}

// childImage returns the index's image for p.
func childImage(t *testing.T, res Result, p v1.Platform) v1.Image {
	t.Helper()
	for _, pi := range res.Images {
		if pi.Platform.String() == p.String() {
			img, err := res.Index.Image(pi.Digest)
			if err != nil {
				t.Fatalf("reading the %s image from the index: %v", p, err)
			}
			return img
		}
	}
	t.Fatalf("the result has no image for %s", p)
	return nil
}

func TestMultiPlatformIndex(t *testing.T) {
	o := options(moduletest.Hello(t, nil))
	o.Tag = "v1.0.0"
	o.Platform = "linux/amd64,linux/arm64"
	o.env.Cache.Dir = t.TempDir()
	res := buildMulti(t, o, linuxAMD64, linuxARM64)
	for _, p := range []v1.Platform{linuxAMD64, linuxARM64} {
		img := childImage(t, res, p)
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatalf("ConfigFile: %v", err)
		}
		if cf.OS != p.OS || cf.Architecture != p.Architecture {
			t.Errorf("the %s image's config says %s/%s", p, cf.OS, cf.Architecture)
		}
		checkStaticELF(t, appBinary(t, img, "/usr/local/bin/hello"), elfMachine[p.Architecture])
	}
	m, err := res.Index.IndexManifest()
	if err != nil {
		t.Fatalf("IndexManifest: %v", err)
	}
	want := map[string]string{specs.AnnotationTitle: "hello", specs.AnnotationVersion: "v1.0.0", specs.AnnotationBaseImageName: "builtin:static"}
	for k, v := range want {
		if m.Annotations[k] != v {
			t.Errorf("index annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if d, ok := m.Annotations[specs.AnnotationBaseImageDigest]; ok {
		t.Errorf("the index names base digest %s, but the built-in base has one per platform", d)
	}
}

func TestMultiPlatformDeterministic(t *testing.T) {
	pkg := moduletest.Hello(t, nil)
	warm := t.TempDir()
	build := func(t *testing.T, platform, cache string) v1.Hash {
		t.Helper()
		o := options(pkg)
		o.Tag = "v1.0.0"
		o.Platform = platform
		o.env.Cache.Dir = cache
		return buildMulti(t, o, linuxAMD64, linuxARM64).Digest
	}
	first := build(t, "linux/amd64,linux/arm64", warm)
	for _, tc := range []struct{ name, platform, cache string }{
		{"the other order", "linux/arm64,linux/amd64", warm},
		{"repeats and spaces", "linux/arm64, linux/amd64,linux/arm64", warm},
		{"another cache", "linux/amd64,linux/arm64", t.TempDir()},
		{"no cache", "linux/arm64,linux/amd64", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := build(t, tc.platform, tc.cache); got != first {
				t.Errorf("--platform %s gave index %s, want %s", tc.platform, got, first)
			}
		})
	}
}
