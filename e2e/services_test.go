package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/buildercli/builder/internal/moduletest"
)

// Services that nobody here wrote the like of: none has a healthcheck mode,
// and none knows Gin.

// whoamiMain is a main package at its module's root that serves files it
// embeds, on a port its -port flag gives.
const whoamiMain = `package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

//go:embed static
var static embed.FS

func main() {
	port := flag.Int("port", 80, "port to listen on")
	flag.Parse()
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServerFS(static))
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "pong") })
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", *port), Handler: mux}
	go func() {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// greeterMain is a service under cmd/NAME that honours PORT.
const greeterMain = `package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello from greeter") })
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: mux}
	go func() {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// workerMain has no HTTP at all: it works until SIGTERM.
const workerMain = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	fmt.Println("working")
	for {
		select {
		case <-stop:
			fmt.Println("stopped")
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
`

// buildService runs builder build on pkg in dir into a new OCI layout and
// returns "LAYOUT:v1" and the image's config.
func buildService(t *testing.T, dir, pkg string, args ...string) (string, *v1.ConfigFile) {
	t.Helper()
	b := built(t)
	out := filepath.Join(t.TempDir(), "layout")
	stdout := invocation{Dir: dir, Timeout: buildTimeout}.must(t, b.builder, append([]string{"build", pkg, "--tag", "v1", "--oci-layout", out}, args...)...)
	if !digestPattern.MatchString(strings.TrimSpace(stdout)) {
		t.Fatalf("builder build %s printed %q", pkg, stdout)
	}
	p, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("layout index: %v, %v", im, err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return out + ":v1", cf
}

// checkHealthcheck runs the image's healthcheck in the running container
// (it must pass), stops the container, and runs the same command from the
// unpacked image on the host, where nothing serves: it must fail.
func checkHealthcheck(t *testing.T, c *container, h *v1.HealthConfig) {
	t.Helper()
	if h == nil || len(h.Test) < 2 || h.Test[0] != "CMD" {
		t.Fatalf("healthcheck = %+v, want a CMD", h)
	}
	if out, errOut, code := c.exec(t, nil, h.Test[1:]...); code != 0 {
		t.Errorf("healthcheck %q in the container exited %d, want 0\n%s%s", h.Test[1:], code, out, errOut)
	}
	c.stop(t)
	cmd := exec.Command(filepath.Join(c.bundle, "rootfs", h.Test[1]), h.Test[2:]...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("healthcheck %q with the service stopped: %v, want exit status 1\n%s", h.Test[1:], err, out)
	}
}

// TestServiceFlagPort: a main package at a module root, which embeds its
// files and takes its port from a flag, in a directory not named after it.
func TestServiceFlagPort(t *testing.T) {
	built(t)
	port := freePort(t)
	root := moduletest.Write(t, map[string]string{
		"go.mod":            "module example.com/whoami\n\ngo 1.22\n",
		"main.go":           whoamiMain,
		"static/index.html": "<h1>whoami</h1>\n",
		".ko.yaml": fmt.Sprintf("builds:\n- main: .\n  builder:\n    ports: [\"%d\"]\n    args: [-port, \"%d\"]\n"+
			"    healthcheck: {http: /ping, interval: 10s}\n    stopSignal: SIGTERM\n", port, port),
	})
	img, cf := buildService(t, root, ".")
	want := v1.Config{
		Entrypoint:   []string{"/usr/local/bin/whoami"},
		Cmd:          []string{"-port", strconv.Itoa(port)},
		ExposedPorts: map[string]struct{}{strconv.Itoa(port) + "/tcp": {}},
		StopSignal:   "SIGTERM",
	}
	got := v1.Config{Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, ExposedPorts: cf.Config.ExposedPorts, StopSignal: cf.Config.StopSignal}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	checkNoTool(t, cf)
	if h := cf.Config.Healthcheck; h == nil || h.Test[1] != "/usr/local/bin/builder-probe" {
		t.Fatalf("healthcheck = %+v, want builder's probe", h)
	}
	c := startContainer(t, containerSpec{Image: img, Port: port, Ready: "/ping"})
	if code, body := c.get(t, "/static/index.html"); code != 200 || string(body) != "<h1>whoami</h1>\n" {
		t.Errorf("GET /static/index.html = %d %q, want the embedded file", code, body)
	}
	checkHealthcheck(t, c, cf.Config.Healthcheck)
}

// shopModule is a module with a service under cmd/greeter that honours
// PORT and a worker under cmd/worker with no HTTP at all.
func shopModule(t *testing.T, port int) string {
	t.Helper()
	return moduletest.Write(t, map[string]string{
		"go.mod":              "module example.com/shop\n\ngo 1.22\n",
		"cmd/greeter/main.go": greeterMain,
		"cmd/worker/main.go":  workerMain,
		".ko.yaml": fmt.Sprintf("builds:\n- id: greeter\n  main: ./cmd/greeter\n  builder:\n    ports: [\"%d\"]\n"+
			"    env: [PORT=%d]\n    healthcheck: {http: /healthz}\n- id: worker\n  main: ./cmd/worker\n", port, port),
	})
}

// TestServicePORT: a service under cmd/NAME that honours PORT, by import
// path.
func TestServicePORT(t *testing.T) {
	built(t)
	port := freePort(t)
	root := shopModule(t, port)
	img, cf := buildService(t, root, "example.com/shop/cmd/greeter")
	if !cmp.Equal(cf.Config.Entrypoint, []string{"/usr/local/bin/greeter"}) ||
		!cmp.Equal(cf.Config.ExposedPorts, map[string]struct{}{strconv.Itoa(port) + "/tcp": {}}) {
		t.Errorf("entrypoint %q, ports %v", cf.Config.Entrypoint, cf.Config.ExposedPorts)
	}
	if !slices.Contains(cf.Config.Env, "PORT="+strconv.Itoa(port)) {
		t.Errorf("env %q lacks the settings' PORT", cf.Config.Env)
	}
	checkNoTool(t, cf)
	c := startContainer(t, containerSpec{Image: img, Port: port})
	if code, body := c.get(t, "/hello"); code != 200 || string(body) != "hello from greeter" {
		t.Errorf("GET /hello = %d %q", code, body)
	}
	checkHealthcheck(t, c, cf.Config.Healthcheck)
}

// TestServiceWorker: a worker with no HTTP gets no ports, no PORT and no
// healthcheck, and runs until SIGTERM.
func TestServiceWorker(t *testing.T) {
	built(t)
	root := shopModule(t, freePort(t))
	img, cf := buildService(t, root, "./cmd/worker")
	c := cf.Config
	if len(c.ExposedPorts) != 0 || c.Healthcheck != nil || c.StopSignal != "" || len(c.Cmd) != 0 {
		t.Errorf("worker config says more than asked: ports %v, healthcheck %+v, stop signal %q, cmd %q", c.ExposedPorts, c.Healthcheck, c.StopSignal, c.Cmd)
	}
	checkNoTool(t, cf)
	ctr := startContainer(t, containerSpec{Image: img, ReadyLog: "working"})
	ctr.stop(t)
	if !strings.Contains(ctr.stdout.String(), "stopped") {
		t.Errorf("the worker did not stop cleanly\n%s", ctr.logs())
	}
}

// checkNoTool fails unless the image says only what its service asked for:
// no PORT it did not set, nothing of Gin or of builder's demo app.
func checkNoTool(t *testing.T, cf *v1.ConfigFile) {
	t.Helper()
	data, err := json.Marshal(cf)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"GIN_MODE", "/usr/local/bin/app", "main.version"} {
		if strings.Contains(string(data), s) {
			t.Errorf("the config names %q, which its service never asked for", s)
		}
	}
	if cf.Config.Healthcheck != nil && slices.Contains(cf.Config.Healthcheck.Test, "healthcheck") {
		t.Errorf("healthcheck %q runs a mode the service lacks", cf.Config.Healthcheck.Test)
	}
}
