package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestPodmanLoad loads a --format docker tarball: podman sees its user and
// keeps its HEALTHCHECK (from an OCI image it keeps none).
func TestPodmanLoad(t *testing.T) {
	b := built(t)
	t.Parallel()
	tarball := filepath.Join(t.TempDir(), "docker.tar")
	if _, err := b.image("--format", "docker", "--tarball", tarball); err != nil {
		t.Fatal(err)
	}
	p := newPodman(t)
	out := p.must(t, "load", "--quiet", "--input", tarball)
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
	config := readArchive(t, tarball).configName
	if want := path.Base(config); id != want { // blobs/sha256/HEX
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

// TestPodmanPulledHealthcheck: podman pulls the app, published with
// --format docker, from a real registry and keeps its HEALTHCHECK (it keeps
// one only from a Docker-typed config), and `podman healthcheck run` finds
// the running app healthy.
func TestPodmanPulledHealthcheck(t *testing.T) {
	built(t)
	t.Parallel()
	reg := startRegistry(t, false)
	pub := newPublisher(t, reg)
	ref := reg.host + "/team/health:v1.2.3"
	pub.publish(t, "--tag", "v1.2.3", "--repo", reg.host+"/team/health", "--format", "docker")
	e := engineCLI{p: newPodman(t), conf: filepath.Join(t.TempDir(), "containers.conf")}
	if err := os.WriteFile(e.conf, []byte(podmanConf), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must(t, "pull", "--quiet", "--tls-verify=false", ref)
	var inspect []struct{ Healthcheck *struct{ Test []string } }
	out := e.must(t, "image", "inspect", ref)
	if err := json.Unmarshal([]byte(out), &inspect); err != nil || len(inspect) != 1 || inspect[0].Healthcheck == nil {
		t.Fatalf("podman keeps no healthcheck of the pulled image (%v):\n%s", err, out)
	}
	port := freePort(t)
	name := fmt.Sprintf("builder-health-%d", port)
	e.must(t, "run", "-d", "--name", name, "--network", "host", "-e", fmt.Sprintf("PORT=%d", port), ref)
	t.Cleanup(func() {
		if _, _, err := (invocation{Env: []string{"CONTAINERS_CONF=" + e.conf}}).run("podman", e.args("rm", "-f", name)...); err != nil {
			t.Errorf("removing the container: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, stderr, err := (invocation{Env: []string{"CONTAINERS_CONF=" + e.conf}}).run("podman", e.args("healthcheck", "run", name)...)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("podman healthcheck run %s: %v\n%s\nlogs:\n%s", name, err, stderr, e.must(t, "logs", name))
		}
		time.Sleep(300 * time.Millisecond)
	}
}
