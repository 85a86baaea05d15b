package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// podman runs podman on a private store in a temporary directory, so that
// the tests neither see nor change the machine's images.
type podman struct{ dir string }

func newPodman(t *testing.T) podman {
	t.Helper()
	return podman{dir: t.TempDir()}
}

func (p podman) must(t *testing.T, args ...string) string {
	t.Helper()
	global := []string{
		"--root", filepath.Join(p.dir, "root"),
		"--runroot", filepath.Join(p.dir, "run"),
		"--tmpdir", filepath.Join(p.dir, "tmp"),
		"--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "none",
	}
	return mustRun(t, "podman", append(global, args...)...)
}

func TestPodmanLoad(t *testing.T) {
	b := built(t)
	t.Parallel()
	p := newPodman(t)
	out := p.must(t, "load", "--quiet", "--input", b.tarball)
	t.Logf("podman load: %s", strings.TrimSpace(out))

	var images []struct {
		ID    string `json:"Id"`
		Names []string
	}
	out = p.must(t, "images", "--format", "json")
	if err := json.Unmarshal([]byte(out), &images); err != nil {
		t.Fatalf("decoding podman images: %v\n%s", err, out)
	}
	var name, id string
	for _, img := range images {
		for _, n := range img.Names {
			// podman may qualify the name: localhost/app or docker.io/library/app.
			if n == "app:"+tag || strings.HasSuffix(n, "/app:"+tag) {
				name, id = n, img.ID
			}
		}
	}
	if name == "" {
		t.Fatalf("podman images lists no app:%s:\n%s", tag, out)
	}
	config := readArchive(t, b.tarball).configName
	if want := strings.TrimPrefix(config, "sha256:"); id != want {
		t.Errorf("podman gives %s the ID %s, want the config digest %s", name, id, want)
	}

	var inspect []struct {
		Healthcheck *struct{ Test []string }
		Config      struct{ User string }
	}
	out = p.must(t, "image", "inspect", name)
	if err := json.Unmarshal([]byte(out), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect %s: want one image, got %d (%v):\n%s", name, len(inspect), err, out)
	}
	if inspect[0].Config.User != "65532:65532" {
		t.Errorf("podman sees user %q, want 65532:65532", inspect[0].Config.User)
	}
	if hc := inspect[0].Healthcheck; hc == nil {
		t.Errorf("podman sees no healthcheck:\n%s", out)
	} else if diff := cmp.Diff([]string{"CMD", entrypoint, "healthcheck"}, hc.Test); diff != "" {
		t.Errorf("podman's healthcheck mismatch (-want +got):\n%s", diff)
	}
}
