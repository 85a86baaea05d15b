package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Waits on a container.
const (
	startTimeout = 20 * time.Second // until /healthz answers
	stopTimeout  = 15 * time.Second // from SIGTERM to exit
	execTimeout  = 30 * time.Second // for one runc exec
)

// user is a process's uid and gid.
type user struct{ UID, GID int }

// containerSpec is how a container differs from the image's defaults.
type containerSpec struct {
	Image string            // "DIR:tag" of an OCI layout; the shared image when empty
	User  *user             // the image's user when nil
	Env   []string          // KEY=value pairs set over the image's
	Files map[string]string // host files copied into the rootfs, mode 0755, by their path there
	// Port is the port the image's own settings make the service listen
	// on; when 0, a free port is given to it as PORT (unless ReadyLog is
	// set: a service without HTTP needs none).
	Port int
	// Ready is the path that answers 200 once the service is up,
	// /healthz when empty; with ReadyLog set, that line on stdout instead.
	Ready, ReadyLog string
}

// container is the image run by runc in the foreground, on the host's
// network, serving on port.
type container struct {
	name, runcRoot, bundle string
	port                   int
	stdout, stderr         *syncBuffer
	done                   chan struct{} // closed once `runc run` exits
	err                    error         // what `runc run` returned; set before done closes
	cmd                    *exec.Cmd
}

var (
	ociOnce sync.Once
	ociDir  string
	ociErr  error
	// unpackMu serializes umoci runs on the shared layout, so that the
	// tests need not rely on how umoci locks it.
	unpackMu     sync.Mutex
	containerSeq atomic.Int32
)

// ociImage returns "DIR:img", the image copied by skopeo into an OCI layout.
func ociImage(t *testing.T) string {
	t.Helper()
	b := built(t)
	ociOnce.Do(func() {
		ociDir = filepath.Join(b.dir, "oci")
		_, _, ociErr = invocation{}.run("skopeo", "copy", "docker-archive:"+b.tarball, "oci:"+ociDir+":img")
	})
	if ociErr != nil {
		t.Fatalf("copying the image into an OCI layout: %v", ociErr)
	}
	return ociDir + ":img"
}

// startContainer unpacks the image into a fresh bundle, runs it and waits
// until it answers /healthz. A cleanup kills and deletes it.
func startContainer(t *testing.T, spec containerSpec) *container {
	t.Helper()
	img := spec.Image
	if img == "" {
		img = ociImage(t)
	}
	dir := t.TempDir()
	c := &container{
		name:     fmt.Sprintf("builder-e2e-%d-%d", os.Getpid(), containerSeq.Add(1)),
		runcRoot: filepath.Join(dir, "runc"),
		bundle:   filepath.Join(dir, "bundle"),
		port:     spec.Port,
		stdout:   &syncBuffer{},
		stderr:   &syncBuffer{},
		done:     make(chan struct{}),
	}
	unpackMu.Lock()
	_, _, err := invocation{}.run("umoci", "unpack", "--image", img, c.bundle)
	unpackMu.Unlock()
	if err != nil {
		t.Fatalf("unpacking the image: %v", err)
	}
	env := spec.Env
	if c.port == 0 && spec.ReadyLog == "" {
		c.port = freePort(t)
		env = append([]string{"PORT=" + strconv.Itoa(c.port)}, spec.Env...)
	}
	editConfig(t, filepath.Join(c.bundle, "config.json"), spec.User, env)
	for dst, src := range spec.Files {
		copyFile(t, src, filepath.Join(c.bundle, "rootfs", dst))
	}
	c.cmd = exec.Command("runc", "--root", c.runcRoot, "run", "--bundle", c.bundle, c.name)
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	c.cmd.WaitDelay = 5 * time.Second
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting runc run: %v", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.remove(t) })
	switch {
	case spec.ReadyLog != "":
		c.waitLog(t, spec.ReadyLog)
	case spec.Ready != "":
		c.waitHealthy(t, spec.Ready)
	default:
		c.waitHealthy(t, "/healthz")
	}
	return c
}

// editConfig makes the bundle's runtime config run on the host's network,
// without a terminal, as u (when not nil) and with env set over the image's.
func editConfig(t *testing.T, path string, u *user, env []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the runtime config: %v", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	process, ok1 := cfg["process"].(map[string]any)
	linux, ok2 := cfg["linux"].(map[string]any)
	namespaces, ok3 := linux["namespaces"].([]any)
	oldEnv, ok4 := process["env"].([]any)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		t.Fatalf("%s lacks process.env or linux.namespaces:\n%s", path, data)
	}
	process["terminal"] = false
	if u != nil {
		process["user"] = map[string]any{"uid": u.UID, "gid": u.GID}
	}
	var kept []any
	for _, ns := range namespaces {
		if m, ok := ns.(map[string]any); !ok || m["type"] != "network" {
			kept = append(kept, ns)
		}
	}
	linux["namespaces"] = kept
	process["env"] = setEnv(oldEnv, env)
	if data, err = json.MarshalIndent(cfg, "", "\t"); err != nil {
		t.Fatalf("encoding %s: %v", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("writing the runtime config: %v", err)
	}
}

// setEnv returns env with each KEY=value of set replacing any KEY there.
func setEnv(env []any, set []string) []any {
	keys := map[string]bool{}
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	var out []any
	for _, kv := range env {
		s, _ := kv.(string)
		if k, _, _ := strings.Cut(s, "="); !keys[k] {
			out = append(out, kv)
		}
	}
	for _, kv := range set {
		out = append(out, kv)
	}
	return out
}

// copyFile copies the host file src to dst with mode 0755.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("reading %s: %v", src, err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatalf("copying %s into the rootfs: %v", src, err)
	}
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("closing the port finder: %v", err)
	}
	return port
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logs quotes what the container wrote, for failure messages.
func (c *container) logs() string {
	return fmt.Sprintf("--- container stdout:\n%s--- container stderr:\n%s---", c.stdout, c.stderr)
}

// get GETs path from the container and returns the status and body.
func (c *container) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", c.port, path))
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, c.logs())
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp.StatusCode, body
}

// waitHealthy polls path until it answers 200, failing t if the container
// exits or startTimeout passes first.
func (c *container) waitHealthy(t *testing.T, path string) {
	t.Helper()
	client := http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", c.port, path)
	deadline := time.After(startTimeout)
	var last error
	for {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		last = err
		select {
		case <-c.done:
			t.Fatalf("the container exited before answering %s: %v\n%s", path, c.err, c.logs())
		case <-deadline:
			t.Fatalf("%s did not answer 200 within %s: %v\n%s", path, startTimeout, last, c.logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitLog waits until the container's stdout holds line, failing t if the
// container exits or startTimeout passes first.
func (c *container) waitLog(t *testing.T, line string) {
	t.Helper()
	deadline := time.After(startTimeout)
	for !strings.Contains(c.stdout.String(), line) {
		select {
		case <-c.done:
			t.Fatalf("the container exited before printing %q: %v\n%s", line, c.err, c.logs())
		case <-deadline:
			t.Fatalf("the container did not print %q within %s\n%s", line, startTimeout, c.logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
