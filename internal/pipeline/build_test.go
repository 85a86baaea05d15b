package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/moduletest"
	"github.com/buildercli/builder/internal/pipeline"
	"github.com/buildercli/builder/internal/push"
)

// buildTest is one build's options and environment.
type buildTest struct {
	pipeline.Options
	env build.Env
}

// buildOptions build pkg into an OCI layout beside it.
func buildOptions(pkg string) buildTest {
	o := buildTest{env: build.Env{HostArch: runtime.GOARCH, Environ: os.Environ(), Log: io.Discard}}
	o.Paths, o.OCILayout = []string{pkg}, filepath.Join(filepath.Dir(pkg), "out")
	return o
}

func (o buildTest) build(ctx context.Context) (build.Result, error) {
	res, err := pipeline.Build(ctx, o.Options, o.env)
	if err != nil {
		return build.Result{}, err
	}
	return res[0], nil
}

func TestRunWritesNothingOnCompileError(t *testing.T) {
	pkg := moduletest.Hello(t, map[string]string{"hello/broken.go": "package main\n\nfunc broken() { undefined() }\n"})
	o := buildOptions(pkg)
	o.Tarball = filepath.Join(filepath.Dir(pkg), "app.tar")
	_, err := o.build(context.Background())
	var ce *gobuild.CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("Run: got %v, want a *gobuild.CompileError", err)
	}
	if !strings.Contains(ce.Output, "undefined") {
		t.Errorf("compiler output %q does not name the error", ce.Output)
	}
	for _, p := range []string{o.Tarball, o.OCILayout} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a failed build (stat: %v)", p, err)
		}
	}
}

func TestRunWritesTarballAndLayout(t *testing.T) {
	pkg := moduletest.Hello(t, nil)
	o := buildOptions(pkg)
	o.Build.Tag = "v3"
	o.Build.Repo = "registry.example.com/team/hello"
	o.Tarball = filepath.Join(filepath.Dir(pkg), "app.tar")
	res, err := o.build(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	tag, err := name.NewTag("registry.example.com/team/hello:v3")
	if err != nil {
		t.Fatalf("NewTag: %v", err)
	}
	img, err := tarball.ImageFromPath(o.Tarball, &tag)
	if err != nil {
		t.Fatalf("reading the tarball: %v", err)
	}
	// A docker-archive keeps the config and layers, not the manifest, so
	// the image is compared by its config digest (docker's image ID).
	got, err := img.ConfigName()
	if err != nil {
		t.Fatalf("ConfigName: %v", err)
	}
	want, err := res.Image.ConfigName()
	if err != nil {
		t.Fatalf("ConfigName: %v", err)
	}
	if got != want {
		t.Errorf("tarball holds config %s, the built image has %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(o.OCILayout, "index.json")); err != nil {
		t.Errorf("no OCI layout written: %v", err)
	}
}

func TestMultiPlatformWritesRecordsPerPlatform(t *testing.T) {
	pkg := moduletest.Hello(t, nil)
	dir := filepath.Dir(pkg)
	o := buildOptions(pkg)
	o.Build.Tag = "v1.0.0"
	o.Build.Platform = "linux/arm64,linux/amd64"
	o.SBOM = filepath.Join(dir, "sbom.spdx.json")
	o.Provenance = filepath.Join(dir, "provenance.json")
	if _, err := o.build(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, f := range []string{"sbom.spdx.linux-amd64.json", "sbom.spdx.linux-arm64.json", "provenance.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(data) == 0 {
			t.Errorf("record %s: %d bytes, %v", f, len(data), err)
		}
	}
	if _, err := os.Stat(o.SBOM); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists beside the per-platform SBOMs (stat: %v)", o.SBOM, err)
	}
}

func TestMultiPlatformTarballRefused(t *testing.T) {
	// A package that does not compile: a compile error means the check
	// came too late.
	files := map[string]string{"hello/broken.go": "package main\n\nfunc broken() { undefined() }\n"}
	for _, tc := range []struct {
		name, platform, koYAML string
	}{
		{"two platforms", "linux/amd64,linux/arm64", ""},
		{"all", "all", ""},
		{".ko.yaml defaultPlatforms", "", "defaultPlatforms:\n- linux/amd64\n- linux/arm64\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			more := map[string]string{}
			for k, v := range files {
				more[k] = v
			}
			if tc.koYAML != "" {
				more[".ko.yaml"] = tc.koYAML
			}
			pkg := moduletest.Hello(t, more)
			o := buildOptions(pkg)
			o.Build.Platform = tc.platform
			o.Tarball = filepath.Join(filepath.Dir(pkg), "app.tar")
			_, err := o.build(context.Background())
			if !errors.Is(err, push.ErrTarballIndex) {
				t.Fatalf("Run = %v, want push.ErrTarballIndex", err)
			}
			if !strings.Contains(err.Error(), "--oci-layout") {
				t.Errorf("error %q does not point to --oci-layout", err)
			}
			var ce *gobuild.CompileError
			if errors.As(err, &ce) {
				t.Errorf("compiled before refusing: %v", err)
			}
			for _, p := range []string{o.Tarball, o.OCILayout} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after the refusal (stat: %v)", p, err)
				}
			}
		})
	}
}

// TestDigestIndependentOfCheckout: the same commit gives one digest from
// clones in directories of other names, and from every spelling of the
// package: relative, ./x/, absolute, import path.
func TestDigestIndependentOfCheckout(t *testing.T) {
	var digests []string
	for _, clone := range []string{"hello", "hello-copy"} {
		root := filepath.Join(t.TempDir(), clone)
		src := filepath.Dir(moduletest.Hello(t, map[string]string{".ko.yaml": "builds:\n- main: ./hello\n  builder:\n    ports: [\"8080\"]\n    healthcheck: {http: /healthz}\n"}))
		if err := os.Rename(src, root); err != nil {
			t.Fatal(err)
		}
		moduletest.Commit(t, root)
		t.Chdir(root)
		for _, arg := range []string{"./hello", "hello", "./hello/", filepath.Join(root, "hello"), "example.com/hello/hello", ""} {
			o := buildOptions(arg)
			out := t.TempDir()
			o.OCILayout, o.SBOM, o.Provenance = filepath.Join(out, "layout"), filepath.Join(out, "sbom.json"), filepath.Join(out, "prov.json")
			res, err := o.build(context.Background())
			if err != nil {
				t.Fatalf("building %q in %s: %v", arg, clone, err)
			}
			digests = append(digests, res.Digest.String())
			if len(res.Records.SBOMs) != 1 || res.Records.Provenance == nil {
				t.Fatalf("building %q made no records", arg)
			}
			if data := string(res.Records.SBOMs[0]) + string(res.Records.Provenance); strings.Contains(data, root) {
				t.Errorf("the records of %q name the checkout's path %s", arg, root)
			}
			cf, err := res.Image.RawConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(cf), root) {
				t.Errorf("the config of %q names the checkout: %s", arg, cf)
			}
		}
	}
	for _, d := range digests[1:] {
		if d != digests[0] {
			t.Fatalf("digests differ: %v", digests)
		}
	}
}

// TestFailedRunLeavesOutputsAsTheyWere: when a later output fails, the
// outputs written before it are put back: a tarball that was there holds
// its old bytes, one that was not is gone, a layout keeps its old entry, and
// a new one is gone with the directories made for it.
func TestFailedRunLeavesOutputsAsTheyWere(t *testing.T) {
	pkg := committed(t, nil)
	out := t.TempDir()
	old := buildOptions(pkg)
	old.Build.Tag = "v1"
	old.OCILayout = filepath.Join(out, "layout")
	old.Tarball = filepath.Join(out, "old.tar")
	if _, err := old.build(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for _, p := range []string{old.Tarball, filepath.Join(old.OCILayout, "index.json")} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		before[p] = data
	}
	for _, tarball := range []string{old.Tarball, filepath.Join(out, "new.tar")} {
		o := buildOptions(pkg)
		o.Build.Tag = "v1"
		o.Build.Labels = []string{"changed=yes"} // another image under the same tag
		o.OCILayout, o.Tarball = old.OCILayout, tarball
		o.Provenance = filepath.Join(out, "missing", "prov.json") // fails after the others
		if _, err := o.build(context.Background()); err == nil {
			t.Fatal("the build worked, want the provenance to fail")
		}
		for p, data := range before {
			if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s changed by a failed run (%v)", p, err)
			}
		}
		if tarball != old.Tarball {
			if _, err := os.Stat(tarball); !os.IsNotExist(err) {
				t.Errorf("%s left by a failed run (stat: %v)", tarball, err)
			}
		}
		if leftovers, _ := filepath.Glob(filepath.Join(out, ".*")); len(leftovers) != 0 {
			t.Errorf("the failed run left %v", leftovers)
		}
	}
	// A new layout goes with the directories the run made for it.
	o := buildOptions(pkg)
	o.OCILayout = filepath.Join(out, "new", "deeper", "layout")
	o.Provenance = filepath.Join(out, "missing", "prov.json")
	if _, err := o.build(context.Background()); err == nil {
		t.Fatal("the build worked, want the provenance to fail")
	}
	if _, err := os.Stat(filepath.Join(out, "new")); !os.IsNotExist(err) {
		t.Errorf("%s left by a failed run (stat: %v)", filepath.Join(out, "new"), err)
	}
}
