package e2e

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/buildercli/builder/internal/basetest"
)

// busybox is Debian's statically linked busybox (package busybox-static).
const busybox = "/bin/busybox"

// pushShellBase pushes to reg, as ref, a base for this machine's platform
// that has a shell: basetest's distroless-like base (accounts with the
// non-root 65532, /home/nonroot, /tmp), run as 65532:65532, plus a layer with
// Debian's static busybox as /bin/busybox and /bin/sh a symlink to it. It
// is what podman 4.3's CMD-SHELL healthchecks, made from kube probes, need.
func pushShellBase(t *testing.T, reg *registry, ref string) {
	t.Helper()
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatalf("BUILDER_E2E=1 but the static busybox is missing: %v (apt-get install -y busybox-static)", err)
	}
	// Debian's busybox package (not -static) has a dynamic one, which
	// would not run in the base.
	if f, err := elf.NewFile(bytes.NewReader(data)); err != nil {
		t.Fatalf("%s is not ELF: %v", busybox, err)
	} else {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Fatalf("%s is dynamically linked: install busybox-static", busybox)
			}
		}
	}
	epoch := time.Unix(0, 0).UTC()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755, ModTime: epoch},
		{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(data)), ModTime: epoch},
		{Typeflag: tar.TypeSymlink, Name: "bin/sh", Linkname: "busybox", Mode: 0o777, ModTime: epoch},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing %s: %v", h.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(data); err != nil {
				t.Fatalf("writing %s: %v", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	}, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		t.Fatalf("making the busybox layer: %v", err)
	}
	// builder manifests wants the image's user as uid:gid.
	img := basetest.RunAs(t, basetest.Image(t, v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, basetest.Docker), "65532:65532")
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.DockerLayer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "busybox-static, /bin/sh"}})
	if err != nil {
		t.Fatalf("appending the busybox layer: %v", err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing the shell base: %v", err)
	}
}
