package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
)

// slowRoute registers GET /slow on r. Each request closes started, then
// blocks until release is closed or the client goes away.
func slowRoute(r *gin.Engine, started, release chan struct{}) {
	r.GET("/slow", func(c *gin.Context) {
		close(started)
		select {
		case <-release:
			c.String(http.StatusOK, "done")
		case <-c.Request.Context().Done():
		}
	})
}

// startServe runs serve on a free 127.0.0.1 port and returns its address
// and a channel that receives serve's result.
func startServe(t *testing.T, ctx context.Context, timeout time.Duration, tr testRouter) (string, <-chan error) {
	t.Helper()
	cfg := config{Host: "127.0.0.1", ShutdownTimeout: timeout}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logger, tr.engine, tr.draining, ready) }()
	select {
	case addr := <-ready:
		return addr, done
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatalf("serve did not start within 5s")
	}
	return "", nil
}

// get fetches url in the background and sends the response on the result.
func get(url string) <-chan response {
	res := make(chan response, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			res <- response{Body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			res <- response{Status: resp.StatusCode, Body: err.Error()}
			return
		}
		res <- response{Status: resp.StatusCode, Body: string(b)}
	}()
	return res
}

func TestServeDrainsInFlight(t *testing.T) {
	tr := newTestRouter(t)
	started, release := make(chan struct{}), make(chan struct{})
	slowRoute(tr.engine, started, release)
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startServe(t, ctx, 5*time.Second, tr)

	inFlight := get(url(addr, "/slow"))
	<-started
	cancel()
	waitFor(t, "GET /readyz to answer 503 during the drain", func() bool {
		return do(t, tr.engine, http.MethodGet, "/readyz").Code == http.StatusServiceUnavailable
	})
	select {
	case err := <-done:
		t.Fatalf("serve returned %v before the in-flight request finished", err)
	default:
	}

	close(release)
	if diff := cmp.Diff(response{200, "done"}, <-inFlight); diff != "" {
		t.Errorf("in-flight GET /slow mismatch (-want +got):\n%s", diff)
	}
	if err := <-done; err != nil {
		t.Errorf("serve() = %v, want nil", err)
	}
}

func TestServeShutdownTimeout(t *testing.T) {
	tr := newTestRouter(t)
	started, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(release) })
	slowRoute(tr.engine, started, release)
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startServe(t, ctx, 50*time.Millisecond, tr)

	inFlight := get(url(addr, "/slow"))
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("serve() = %v, want context.DeadlineExceeded", err)
	}
	<-inFlight
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	cfg := config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, ShutdownTimeout: time.Second}
	err = run(context.Background(), cfg, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "listening on") {
		t.Errorf("run() on a busy port = %v, want a listening error", err)
	}
}

func TestRun(t *testing.T) {
	var stdout bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, config{Host: "127.0.0.1", ShutdownTimeout: time.Second}, &stdout, ready) }()
	addr := <-ready

	if err := healthcheck(context.Background(), url(addr, "/healthz"), 2*time.Second); err != nil {
		t.Errorf("healthcheck: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run() = %v, want nil", err)
	}

	lines := logLines(t, stdout.String())
	var msgs []string
	for _, l := range lines {
		msgs = append(msgs, l["msg"].(string))
	}
	if diff := cmp.Diff([]string{"starting", "request", "shutting down", "shutdown complete"}, msgs); diff != "" {
		t.Fatalf("log messages mismatch (-want +got):\n%s", diff)
	}
	start := lines[0]
	if !regexp.MustCompile(`^[+-]\d\d:\d\d$`).MatchString(start["utc_offset"].(string)) {
		t.Errorf("starting line utc_offset = %v, want ±hh:mm", start["utc_offset"])
	}
	for _, k := range []string{"time", "utc_offset"} {
		delete(start, k)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("splitting %q: %v", addr, err)
	}
	want := map[string]any{
		"level": "INFO", "msg": "starting", "version": "dev", "commit": "unknown",
		"addr": addr, "port": mustFloat(t, port), "tz": time.Local.String(),
	}
	if diff := cmp.Diff(want, start); diff != "" {
		t.Errorf("starting line mismatch (-want +got):\n%s", diff)
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("parsing %q: %v", s, err)
	}
	return f
}

// waitFor polls cond until it holds, failing the test after 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
