// Package enginetest serves a fake container engine's API on a unix
// socket, as Docker and `podman system service` serve theirs, for tests of
// loading images into an engine.
package enginetest

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// Serve serves handler on a new unix socket until t ends, and returns the
// socket's DOCKER_HOST (unix:///PATH).
func Serve(t testing.TB, handler http.Handler) string {
	t.Helper()
	// Not t.TempDir: a socket's path must stay short (108 bytes).
	dir, err := os.MkdirTemp("", "engine-")
	if err != nil {
		t.Fatalf("making a socket directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listening on %s: %v", sock, err)
	}
	s := &http.Server{Handler: handler}
	go func() { _ = s.Serve(l) }() // http.ErrServerClosed once the cleanup closes it
	t.Cleanup(func() { s.Close() })
	return "unix://" + sock
}
