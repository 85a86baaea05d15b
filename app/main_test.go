package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

func TestExecute(t *testing.T) {
	live := httptest.NewServer(newTestRouter(t).engine)
	t.Cleanup(live.Close)
	livePort := strconv.Itoa(live.Listener.Addr().(*net.TCPAddr).Port)
	deadPort := strconv.Itoa(freePort(t))

	for _, tc := range []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStderr string // substring; "" means stderr must be empty
	}{
		{name: "unknown argument", args: []string{"serve"}, wantCode: 2, wantStderr: "usage: app [healthcheck]"},
		{name: "extra argument", args: []string{"healthcheck", "now"}, wantCode: 2, wantStderr: "usage: app [healthcheck]"},
		{name: "bad PORT", args: []string{"healthcheck"}, env: map[string]string{"PORT": "http"}, wantCode: 2, wantStderr: `invalid PORT "http"`},
		{name: "healthcheck live", args: []string{"healthcheck"}, env: map[string]string{"PORT": livePort}, wantCode: 0},
		{name: "healthcheck dead", args: []string{"healthcheck"}, env: map[string]string{"PORT": deadPort}, wantCode: 1, wantStderr: "app: checking health: Get \"http://127.0.0.1:" + deadPort + "/healthz\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tc.env[k] }
			code := execute(context.Background(), tc.args, getenv, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("execute(%q) = %d, want %d; stderr:\n%s", tc.args, code, tc.wantCode, stderr.String())
			}
			if tc.wantStderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr = %q, want empty", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout = %q, want empty", stdout.String())
			}
		})
	}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("closing listener: %v", err)
	}
	return port
}

// url returns the http URL of path on addr.
func url(addr, path string) string {
	return fmt.Sprintf("http://%s%s", addr, path)
}
