package e2e

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/buildercli/builder/internal/base"
)

// koWithBase builds the ko the bench pins (bench/go.mod), starts a plain
// registry and pushes builder's built-in base for this machine's platform
// to it; it returns ko, the registry, the base's reference and the platform.
func koWithBase(t *testing.T, b build) (string, *registry, name.Reference, v1.Platform) {
	t.Helper()
	ko := filepath.Join(t.TempDir(), "ko")
	invocation{Dir: filepath.Join(b.root, "bench"), Timeout: buildTimeout}.must(t, "go", "build", "-o", ko, "github.com/google/ko")
	reg := startRegistry(t, false)
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	img, err := base.Builtin(p)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.host + "/base:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing the base: %v", err)
	}
	return ko, reg, ref, p
}

// TestKoAcceptsSettings: the ko the bench pins (bench/go.mod) builds ./app
// with this repository's .ko.yaml, whose builder settings it ignores, with
// the same build flags.
func TestKoAcceptsSettings(t *testing.T) {
	b := built(t)
	ko, reg, ref, p := koWithBase(t, b)
	home := t.TempDir()
	out, stderr, err := invocation{Dir: b.root, Timeout: buildTimeout, Env: []string{
		"KO_DOCKER_REPO=" + reg.host + "/ko", "KO_DEFAULTBASEIMAGE=" + ref.String(),
		"KOCACHE=" + filepath.Join(home, "kocache"), "HOME=" + home, "DOCKER_CONFIG=" + home,
	}}.run(ko, "build", "--platform", p.String(), "./app")
	if err != nil {
		t.Fatalf("ko build ./app: %v", err)
	}
	if !strings.Contains(out, reg.host+"/ko/app-") || !strings.Contains(out, "@sha256:") {
		t.Errorf("ko build printed %q, want the pushed image by digest\n%s", out, stderr)
	}
}
