package build

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/moduletest"
)

func options(pkg string) Options {
	return Options{
		Path:      pkg,
		HostArch:  runtime.GOARCH,
		Environ:   os.Environ(),
		OCILayout: filepath.Join(filepath.Dir(pkg), "out"),
	}
}

func buildImage(t *testing.T, o Options) (Result, string) {
	t.Helper()
	work := t.TempDir()
	res, err := Image(context.Background(), o, work, io.Discard)
	if err != nil {
		t.Fatalf("Image: %v", err)
	}
	return res, res.Images[0].Binary
}

func runBinary(t *testing.T, p string) string {
	t.Helper()
	out, err := exec.Command(p).Output()
	if err != nil {
		t.Fatalf("running %s: %v", p, err)
	}
	return strings.TrimSpace(string(out))
}

func TestImageInjectsVersionAndLabels(t *testing.T) {
	o := options(moduletest.Hello(t, nil))
	o.Tag = "v1.2.3"
	o.SourceDateEpoch = "1700000000"
	o.Labels = []string{"org.opencontainers.image.licenses=MIT"}
	res, bin := buildImage(t, o)
	if got := runBinary(t, bin); got != "v1.2.3" {
		t.Errorf("binary prints %q, want the tag v1.2.3", got)
	}
	cf, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatalf("ConfigFile: %v", err)
	}
	want := time.Unix(1700000000, 0).UTC()
	if !cf.Created.Time.Equal(want) {
		t.Errorf("created = %v, want %v", cf.Created.Time, want)
	}
	for k, v := range map[string]string{
		LabelVersion: "v1.2.3", LabelTitle: "hello", LabelCreated: "2023-11-14T22:13:20Z",
		LabelBaseName: "builtin:static", "org.opencontainers.image.licenses": "MIT",
	} {
		if got := cf.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	if _, ok := cf.Config.Labels[LabelRevision]; ok {
		t.Errorf("revision label set outside a git checkout")
	}
	if diff := cmp.Diff("hello:v1.2.3", res.Ref.String()); diff != "" {
		t.Errorf("ref (-want +got):\n%s", diff)
	}
}

func TestImageIsDeterministic(t *testing.T) {
	o := options(moduletest.Hello(t, nil))
	o.Tag = "v1"
	first, _ := buildImage(t, o)
	second, _ := buildImage(t, o)
	if first.Digest != second.Digest {
		t.Errorf("two builds of the same source: %s and %s", first.Digest, second.Digest)
	}
	o.Env = []string{"EXTRA=1"}
	third, _ := buildImage(t, o)
	if third.Digest == first.Digest {
		t.Errorf("a different --env gave the same digest %s", third.Digest)
	}
}

func TestImageHonoursKoConfig(t *testing.T) {
	ko := `builds:
- id: hello
  main: ./hello
  ldflags:
  - -s -w -X main.version=ko-{{.Git.Tag}}-{{.Env.HELLO_SUFFIX}}
  goarch: ignored-by-builder
`
	o := options(moduletest.Hello(t, map[string]string{".ko.yaml": ko}))
	o.Tag = "v2"
	o.Environ = append(os.Environ(), "HELLO_SUFFIX=x")
	_, bin := buildImage(t, o)
	if got := runBinary(t, bin); got != "ko-v2-x" {
		t.Errorf("binary prints %q, want ko-v2-x from .ko.yaml's ldflags", got)
	}
}

func TestRunWritesNothingOnCompileError(t *testing.T) {
	pkg := moduletest.Hello(t, map[string]string{"hello/broken.go": "package main\n\nfunc broken() { undefined() }\n"})
	o := options(pkg)
	o.Tarball = filepath.Join(filepath.Dir(pkg), "app.tar")
	_, err := Run(context.Background(), o, io.Discard)
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
	o := options(pkg)
	o.Tag = "v3"
	o.Repo = "registry.example.com/team/hello"
	o.Tarball = filepath.Join(filepath.Dir(pkg), "app.tar")
	res, err := Run(context.Background(), o, io.Discard)
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
