package build

import (
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/buildercli/builder/internal/moduletest"
	"github.com/buildercli/builder/internal/source"
	"github.com/buildercli/builder/internal/vcs"
)

// testOptions are one build's request and environment, and the package
// built.
type testOptions struct {
	Request
	env  Env
	Path string
	// Git, when set, is the checkout's state, instead of what git says.
	Git *vcs.Info
}

func options(pkg string) testOptions {
	return testOptions{Path: pkg, env: Env{HostArch: runtime.GOARCH, Environ: os.Environ()}}
}

// image builds what o describes.
func (o testOptions) image(t *testing.T) (Result, error) {
	t.Helper()
	src, err := source.Read(context.Background(), o.Path, "")
	if err != nil {
		t.Fatalf("source.Read(%s): %v", o.Path, err)
	}
	if o.Git != nil {
		src.Git = *o.Git
	}
	env := o.env
	env.Cache.Scratch = t.TempDir()
	return Image(context.Background(), src, o.Request, env)
}

func buildImage(t *testing.T, o testOptions) (Result, string) {
	t.Helper()
	res, err := o.image(t)
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

// TestImageInjectsNothingUnasked: a package without settings gets no -X
// flags, whatever variables it has; labels say what the build knows.
func TestImageInjectsNothingUnasked(t *testing.T) {
	o := options(moduletest.Hello(t, nil))
	o.Tag = "v1.2.3"
	o.env.SourceDateEpoch = "1700000000"
	o.Labels = []string{"org.opencontainers.image.licenses=MIT"}
	res, bin := buildImage(t, o)
	if got := runBinary(t, bin); got != "dev" {
		t.Errorf("binary prints %q, want its own default dev: nothing asked for main.version", got)
	}
	cf, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatalf("ConfigFile: %v", err)
	}
	want := time.Unix(1700000000, 0).UTC()
	if !cf.Created.Equal(want) {
		t.Errorf("created = %v, want %v", cf.Created.Time, want)
	}
	for k, v := range map[string]string{
		specs.AnnotationVersion: "v1.2.3", specs.AnnotationTitle: "hello", specs.AnnotationCreated: "2023-11-14T22:13:20Z",
		specs.AnnotationBaseImageName: "builtin:static", "org.opencontainers.image.licenses": "MIT",
	} {
		if got := cf.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	if _, ok := cf.Config.Labels[specs.AnnotationRevision]; ok {
		t.Errorf("revision label set outside a git checkout")
	}
	if diff := cmp.Diff("hello:v1.2.3", res.Ref.String()); diff != "" {
		t.Errorf("ref (-want +got):\n%s", diff)
	}
}

// TestImageInjectsVersionFromSettings: the service's ldflags name its
// version variable.
func TestImageInjectsVersionFromSettings(t *testing.T) {
	o := options(moduletest.Hello(t, map[string]string{".ko.yaml": "builds:\n- main: ./hello\n  ldflags: ['-X main.version={{.Git.Tag}}']\n"}))
	o.Tag = "v1.2.3"
	_, bin := buildImage(t, o)
	if got := runBinary(t, bin); got != "v1.2.3" {
		t.Errorf("binary prints %q, want the tag v1.2.3", got)
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
	o.env.Environ = append(os.Environ(), "HELLO_SUFFIX=x")
	_, bin := buildImage(t, o)
	if got := runBinary(t, bin); got != "ko-v2-x" {
		t.Errorf("binary prints %q, want ko-v2-x from .ko.yaml's ldflags", got)
	}
}
