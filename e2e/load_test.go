package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	builder "github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
)

// podmanConf is a containers.conf that lets podman run containers here:
// raised ulimits and the host's network (see TESTING.md).
const podmanConf = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
netns = "host"
`

// engineCLI runs podman on p's store with the settings containers need
// here, as the engine's service does.
type engineCLI struct {
	p    podman
	conf string
}

func (e engineCLI) args(args ...string) []string {
	global := []string{
		"--root", filepath.Join(e.p.dir, "root"),
		"--runroot", filepath.Join(e.p.dir, "run"),
		"--tmpdir", filepath.Join(e.p.dir, "tmp"),
		"--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "none",
		"--runtime", "runc",
	}
	return append(global, args...)
}

func (e engineCLI) must(t *testing.T, args ...string) string {
	t.Helper()
	return invocation{Env: []string{"CONTAINERS_CONF=" + e.conf}}.must(t, "podman", e.args(args...)...)
}

// startPodmanService starts `podman system service` on a unix socket over
// a private store, waits until it answers, and returns its DOCKER_HOST and
// a CLI on the same store. It is stopped, by its PID, when t ends.
func startPodmanService(t *testing.T) (string, engineCLI) {
	t.Helper()
	e := engineCLI{p: newPodman(t), conf: filepath.Join(t.TempDir(), "containers.conf")}
	if err := os.WriteFile(e.conf, []byte(podmanConf), 0o644); err != nil {
		t.Fatalf("writing %s: %v", e.conf, err)
	}
	sockDir, err := os.MkdirTemp("", "podman-api-")
	if err != nil {
		t.Fatalf("making a socket directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "podman.sock")
	var log syncBuffer
	cmd := exec.Command("podman", e.args("system", "service", "--time=0", "unix://"+sock)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+e.conf)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting podman system service: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	client := &http.Client{Transport: &http.Transport{DialContext: unixDialer(sock)}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://engine/_ping")
		if err == nil {
			_ = resp.Body.Close() // a status is all this reads
			if resp.StatusCode == http.StatusOK {
				return "unix://" + sock, e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("podman system service does not answer on %s after 30 s (%v):\n%s", sock, err, log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// builder build --load sends the image to podman's Docker-compatible API;
// podman then lists it under its reference, with builder's digest, and
// runs it.
func TestLoadIntoEngine(t *testing.T) {
	b := built(t)
	t.Parallel()
	host, e := startPodmanService(t)

	iv := invocation{Dir: b.root, Env: []string{"DOCKER_HOST=" + host}, Timeout: buildTimeout}
	out, notes, err := iv.run(b.builder, "build", "./app", "--tag", tag, "--load")
	if err != nil {
		t.Fatalf("%v", err)
	}
	// Compared with what this run printed: the shared build may be of
	// another state of the tree.
	digest := strings.TrimSpace(out)
	if !digestPattern.MatchString(digest) {
		t.Fatalf("builder build --load printed %q, want one digest; stderr:\n%s", out, notes)
	}
	if want := "loaded app:" + tag + " into the engine at " + host; !strings.Contains(notes, want) {
		t.Errorf("stderr does not say %q:\n%s", want, notes)
	}
	img := podmanImage(t, e.p, "app:"+tag)
	if img.Digest != digest {
		t.Errorf("podman lists %v with digest %s, want the one builder printed, %s", img.Names, img.Digest, digest)
	}

	port := freePort(t)
	name := fmt.Sprintf("builder-load-%d", port)
	e.must(t, "run", "-d", "--name", name, "--network", "host", "-e", fmt.Sprintf("PORT=%d", port), img.ID)
	t.Cleanup(func() {
		if _, _, err := (invocation{Env: []string{"CONTAINERS_CONF=" + e.conf}}).run("podman", e.args("rm", "-f", name)...); err != nil {
			t.Errorf("removing the container: %v", err)
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/ping", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close() // a status is all this reads
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s = %s, want 200", url, resp.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container does not answer %s after 30 s: %v\nlogs:\n%s", url, err, e.must(t, "logs", name))
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.must(t, "stop", "-t", "10", name)
	if code := strings.TrimSpace(e.must(t, "inspect", "--format", "{{.State.ExitCode}}", name)); code != "0" {
		t.Errorf("the app exited with %s after SIGTERM, want 0", code)
	}
}

// builder build ./cmd/... --load sends every service's image to podman's
// Docker-compatible API; podman lists each under its own name, with the
// digest builder printed for it.
func TestLoadSeveralIntoEngine(t *testing.T) {
	b := built(t)
	t.Parallel()
	host, e := startPodmanService(t)
	root := fleetModule(t, "api", "worker")
	res := runBuilder(t, b.builder, root, []string{"DOCKER_HOST=" + host}, "", "build", "./cmd/...", "--tag", tag, "--load")
	if res.code != 0 {
		t.Fatalf("%v", res)
	}
	for _, svc := range []string{"api", "worker"} {
		if want := "loaded " + svc + ":" + tag + " into the engine at " + host; !strings.Contains(res.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
		}
		digest := ""
		for _, line := range strings.Split(res.stdout, "\n") {
			if d, ok := strings.CutPrefix(line, svc+"@"); ok {
				digest = d
			}
		}
		if !digestPattern.MatchString(digest) {
			t.Fatalf("stdout names no digest of %s:\n%s", svc, res.stdout)
		}
		if img := podmanImage(t, e.p, svc+":"+tag); img.Digest != digest {
			t.Errorf("podman lists %v with digest %s, want the one builder printed, %s", img.Names, img.Digest, digest)
		}
	}
}

// A load that a later failure undoes puts podman's tags back through its
// Docker-compatible API: a tag that named another image names it again,
// and a tag that was new is removed.
func TestEngineLoadPutBack(t *testing.T) {
	b := built(t)
	t.Parallel()
	host, e := startPodmanService(t)
	ctx := context.Background()
	eng := push.Engine{Host: host}
	old, err := tarball.ImageFromPath(b.tarball, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := old.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Env = append(cfg.Config.Env, "PUT_BACK=1")
	newer, err := mutate.ConfigFile(old, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kept, fresh := name.MustParseReference("undo-kept:v1").(name.Tag), name.MustParseReference("undo-fresh:v1").(name.Tag)
	if err := eng.Deliver(ctx, builder.Result{Image: old, Ref: kept}, io.Discard); err != nil {
		t.Fatalf("loading %s: %v", kept, err)
	}
	oldID := podmanImage(t, e.p, kept.String()).ID
	var undo push.Undo
	for _, ref := range []name.Tag{kept, fresh} {
		r := builder.Result{Image: newer, Ref: ref}
		if err := undo.Remember(ctx, eng, r); err != nil {
			t.Fatalf("remembering %s: %v", ref, err)
		}
		if err := eng.Deliver(ctx, r, io.Discard); err != nil {
			t.Fatalf("loading %s: %v", ref, err)
		}
	}
	if newID := podmanImage(t, e.p, kept.String()).ID; newID == oldID {
		t.Fatalf("loading another image under %s left it at %s", kept, oldID)
	}
	if err := undo.Restore(); err != nil {
		t.Fatalf("putting the engine back: %v", err)
	}
	if got := podmanImage(t, e.p, kept.String()).ID; got != oldID {
		t.Errorf("after the put-back, podman lists %s as %s, want the image it named before, %s", kept, got, oldID)
	}
	out := e.must(t, "images", "--format", "{{.Repository}}:{{.Tag}}")
	if strings.Contains(out, fresh.String()) {
		t.Errorf("after the put-back, podman still lists %s:\n%s", fresh, out)
	}
}

// With no engine at DOCKER_HOST, --load fails on one line, before building.
func TestLoadNoEngine(t *testing.T) {
	b := built(t)
	t.Parallel()
	host := "unix://" + filepath.Join(t.TempDir(), "absent.sock")
	iv := invocation{Dir: b.root, Env: []string{"DOCKER_HOST=" + host}}
	out, notes, err := iv.run(b.builder, "build", "./app", "--tag", tag, "--load")
	if err == nil {
		t.Fatalf("builder build --load with no engine succeeded:\n%s", out)
	}
	want := "builder: no container engine answers at " + host + " ("
	if lines := strings.Split(strings.TrimSpace(notes), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("stderr = %q, want one line that starts %q", notes, want)
	}
}

// unixDialer dials the unix socket sock, whatever address is asked.
func unixDialer(sock string) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
}
