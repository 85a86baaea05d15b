package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// podman runs podman on a private store in a temporary directory, so that
// the tests neither see nor change the machine's images.
type podman struct{ dir string }

// newPodman makes the store; it is removed when t ends, after the cleanups
// registered later (which remove containers) have run.
func newPodman(t *testing.T) podman {
	t.Helper()
	dir, err := os.MkdirTemp("", "podman-store-")
	if err != nil {
		t.Fatalf("making a podman store: %v", err)
	}
	t.Cleanup(func() {
		if err := removeStore(dir, 30*time.Second); err != nil {
			t.Error(err)
		}
	})
	return podman{dir: dir}
}

// removeStore removes a podman store once no process names it. After
// `podman rm -f` returns, the container's conmon and the `podman container
// cleanup` it starts may still write there for a moment, and a plain
// RemoveAll then fails with "directory not empty".
func removeStore(dir string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		users := processesNaming(dir)
		var err error
		if len(users) == 0 {
			if err = os.RemoveAll(dir); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("removing the podman store %s: %w", dir, err)
			}
			return fmt.Errorf("removing the podman store %s: processes still name it after %s: %v", dir, wait, users)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesNaming lists the processes whose command line names a path
// in dir.
func processesNaming(dir string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var users []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(dir+"/")) {
			continue
		}
		users = append(users, e.Name()+" "+strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
	}
	return users
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
