package e2e

// Policy: without BUILDER_E2E=1 every test skips. With it, a missing tool or
// a non-root user fails the test: CI must not pass by skipping.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// tag is the tag, and so the version, every test builds.
	tag = "v1.2.3-e2e"
	// entrypoint is where the image holds the app binary.
	entrypoint = "/usr/local/bin/app"
	// defaultTimeout bounds a tool run; buildTimeout a compile.
	defaultTimeout = 2 * time.Minute
	buildTimeout   = 10 * time.Minute
)

// tools are the programs the tests run, besides crane (see cranePath).
var tools = []string{"go", "tar", "skopeo", "umoci", "runc", "podman"}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		if err := os.RemoveAll(shared.dir); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: removing %s: %v\n", shared.dir, err)
		}
	}
	os.Exit(code)
}

// requireE2E skips t unless BUILDER_E2E=1, and then fails it unless the
// tests can run here: as root, with every tool installed.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("BUILDER_E2E") != "1" {
		t.Skip("end-to-end test: set BUILDER_E2E=1 to run it (needs root, skopeo, umoci, runc, podman, crane)")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("BUILDER_E2E=1 but running as uid %d: runc and podman need root", os.Geteuid())
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("BUILDER_E2E=1 but %s is missing: %v (apt-get install -y skopeo umoci runc podman)", tool, err)
		}
	}
}

// cranePath returns crane from $PATH, else from $(go env GOPATH)/bin.
func cranePath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("crane"); err == nil {
		return p
	}
	gopath := strings.TrimSpace(mustRun(t, "go", "env", "GOPATH"))
	p := filepath.Join(gopath, "bin", "crane")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("BUILDER_E2E=1 but crane is missing: %v (go install github.com/google/go-containerregistry/cmd/crane@v0.22.1)", err)
	}
	return p
}

// build is what the tests share: builder, and the image it wrote once.
type build struct {
	dir     string // temporary directory, removed by TestMain
	root    string // the repository's root
	builder string // the builder binary
	tarball string // the docker-archive builder wrote
	digest  string // the digest builder printed for it
}

var (
	sharedOnce sync.Once
	shared     build
	sharedErr  error
)

// built returns the shared build, making it on first use. It skips or fails
// t as requireE2E does.
func built(t *testing.T) build {
	t.Helper()
	requireE2E(t)
	sharedOnce.Do(func() { shared, sharedErr = buildImage() })
	if sharedErr != nil {
		t.Fatalf("building the image: %v", sharedErr)
	}
	return shared
}

// buildImage compiles builder and runs it once on ./app. The returned build
// names its directory even on error, so that TestMain can remove it.
func buildImage() (build, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return build{}, fmt.Errorf("locating the repository: %w", err)
	}
	dir, err := os.MkdirTemp("", "builder-e2e-")
	if err != nil {
		return build{}, fmt.Errorf("making a temporary directory: %w", err)
	}
	b := build{dir: dir, root: root, builder: filepath.Join(dir, "builder"), tarball: filepath.Join(dir, "app.tar")}
	gobuild := invocation{Dir: root, Timeout: buildTimeout}
	if _, _, err := gobuild.run("go", "build", "-o", b.builder, "./cmd/builder"); err != nil {
		return b, err
	}
	b.digest, err = b.image("--tarball", b.tarball)
	return b, err
}

// image runs `builder build ./app --tag tag` with more args from the
// repository's root and returns the digest it printed.
func (b build) image(args ...string) (string, error) {
	args = append([]string{"build", "./app", "--tag", tag}, args...)
	out, notes, err := invocation{Dir: b.root, Timeout: buildTimeout}.run(b.builder, args...)
	if err != nil {
		return "", err
	}
	d := strings.TrimSpace(out)
	if !digestPattern.MatchString(d) {
		return "", fmt.Errorf("builder %s printed %q on stdout, want one sha256 digest; stderr:\n%s", strings.Join(args, " "), out, notes)
	}
	return d, nil
}

// invocation is how a command-line tool is run.
type invocation struct {
	Dir     string        // working directory; the test's when empty
	Env     []string      // KEY=value pairs added to the environment
	Timeout time.Duration // defaultTimeout when zero
}

// run runs name with args and returns its stdout and stderr. A failure,
// including a timeout, is an error that quotes the command and its stderr.
func (iv invocation) run(name string, args ...string) (stdout, stderr string, err error) {
	timeout := iv.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = iv.Dir
	if len(iv.Env) > 0 {
		cmd.Env = append(os.Environ(), iv.Env...)
	}
	cmd.WaitDelay = 5 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	if err != nil {
		return o.String(), e.String(), fmt.Errorf("running %s: %w\nstdout:\n%s\nstderr:\n%s",
			strings.Join(cmd.Args, " "), err, o.String(), e.String())
	}
	return o.String(), e.String(), nil
}

// must runs name with args and returns its stdout, failing t if it fails.
func (iv invocation) must(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, _, err := iv.run(name, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// mustRun runs name with args in the test's directory and returns its stdout.
func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	return invocation{}.must(t, name, args...)
}
