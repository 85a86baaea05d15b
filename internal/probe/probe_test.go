package probe_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/probe"
)

func host() v1.Platform { return v1.Platform{OS: "linux", Architecture: runtime.GOARCH} }

// buildProbe compiles the probe for this machine, skipping t elsewhere.
func buildProbe(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the probe is a linux program")
	}
	bin, unlock, err := probe.Build(context.Background(), cache.Cache{Scratch: t.TempDir()}, host(), os.Environ())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(unlock)
	return bin
}

// TestProbe compiles the probe for this machine and runs it against a
// loopback server: 2xx and 3xx are healthy; 5xx, 404, a closed port, a
// server that never answers and bad arguments are not.
func TestProbe(t *testing.T) {
	bin := buildProbe(t)
	if err := gobuild.CheckStatic(bin); err != nil {
		t.Errorf("probe: %v", err)
	}
	if fi, err := os.Stat(bin); err == nil {
		t.Logf("probe binary: %d bytes", fi.Size())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(http.StatusOK)
		case "/moved":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		case "/sick":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	url := func(p int, path string) string { return "http://127.0.0.1:" + strconv.Itoa(p) + path }
	for _, tc := range []struct {
		args    []string
		healthy bool
	}{
		{[]string{url(port, "/healthz")}, true},
		{[]string{"http://localhost:" + strconv.Itoa(port) + "/healthz", "5"}, true},
		{[]string{url(port, "/moved")}, true},
		{[]string{url(port, "/sick")}, false},
		{[]string{url(port, "/nope")}, false},
		{[]string{url(closedPort, "/healthz")}, false},
		{[]string{url(silent.Addr().(*net.TCPAddr).Port, "/healthz"), "1"}, false},
		{[]string{"http://example.com/healthz"}, false},
		{[]string{url(port, "/healthz"), "0"}, false},
		{nil, false},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := exec.Command(bin, tc.args...).CombinedOutput()
			if healthy := err == nil; healthy != tc.healthy {
				t.Errorf("probe %q: healthy %v, want %v (%v: %s)", tc.args, healthy, tc.healthy, err, out)
			}
			if !tc.healthy && !strings.HasPrefix(string(out), "probe: ") {
				t.Errorf("probe %q says %q, want one line beginning with probe:", tc.args, out)
			}
		})
	}
}

// TestProbeInterrupted: signals while the probe waits for the answer do not
// fail it. With a socket timeout set, Linux fails an interrupted read with
// EINTR, and Go's runtime signals its own threads (SIGURG) to preempt them.
func TestProbeInterrupted(t *testing.T) {
	bin := buildProbe(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for i := range 3 {
		var out bytes.Buffer
		cmd := exec.Command(bin, "http://127.0.0.1:"+strconv.Itoa(port)+"/healthz", "5")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var werr error
	signal:
		for {
			select {
			case werr = <-done:
				break signal
			case <-time.After(time.Millisecond):
				_ = cmd.Process.Signal(syscall.SIGURG) // gone once it exits
			}
		}
		if werr != nil {
			t.Fatalf("run %d: the probe, signalled while it waits, failed: %v: %s", i, werr, out.String())
		}
	}
}

// TestBuildIsCachedAndDeterministic: with a cache, a second build of the
// probe skips go build and gives the same bytes as one without a cache.
func TestBuildIsCachedAndDeterministic(t *testing.T) {
	c := cache.Cache{Dir: t.TempDir(), Scratch: t.TempDir()}
	var mtimes []time.Time
	read := func(c cache.Cache) []byte {
		bin, unlock, err := probe.Build(context.Background(), c, host(), os.Environ())
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		defer unlock()
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(bin); err == nil {
			mtimes = append(mtimes, fi.ModTime())
		}
		return data
	}
	first := read(c)
	second := read(c)
	if !mtimes[0].Equal(mtimes[1]) {
		t.Error("the cached probe was built again")
	}
	uncached := read(cache.Cache{Scratch: t.TempDir()})
	if string(first) != string(second) || string(first) != string(uncached) {
		t.Error("probe builds differ")
	}
}

// TestBuildReplacesSpecialFiles: a FIFO where the probe's cached source
// belongs is replaced, not read (a read would block the build).
func TestBuildReplacesSpecialFiles(t *testing.T) {
	c := cache.Cache{Dir: t.TempDir(), Scratch: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, unlock, err := probe.Build(ctx, c, host(), os.Environ())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	unlock()
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(filepath.Dir(bin), "src", "main.go")
	if err := os.Remove(src); err != nil {
		t.Fatalf("the probe's source is not where the test looks: %v", err)
	}
	if err := syscall.Mkfifo(src, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		bin, unlock, err := probe.Build(ctx, c, host(), os.Environ())
		if err == nil {
			unlock()
			var got []byte
			if got, err = os.ReadFile(bin); err == nil && !bytes.Equal(got, want) {
				err = errors.New("another binary than the first build's")
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Build with a FIFO for the cached source: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Build hangs on a FIFO where the cached source belongs")
	}
}
