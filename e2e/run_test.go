package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// probePath is where the TLS probe is copied into the container's rootfs;
// the image itself does not hold it.
const probePath = "/tmp/tlsprobe"

var nonroot = user{UID: 65532, GID: 65532}

// TestRun runs the image with runc as the image says, on Berlin time, and
// checks the service from outside and from inside the container.
func TestRun(t *testing.T) {
	built(t)
	t.Parallel()
	probe := buildProbe(t)
	c := startContainer(t, containerSpec{
		Env:   []string{"TZ=Europe/Berlin"},
		Files: map[string]string{probePath: probe},
	})
	t.Run("user", func(t *testing.T) { c.checkUser(t, nonroot) })
	t.Run("endpoints", func(t *testing.T) { checkEndpoints(t, c) })
	t.Run("healthcheck", func(t *testing.T) {
		if out, errOut, code := c.exec(t, nil, entrypoint, "healthcheck"); code != 0 {
			t.Errorf("app healthcheck exited %d, want 0\n%s%s", code, out, errOut)
		}
		// With nothing on the port, the healthcheck must fail.
		closed := "PORT=" + strconv.Itoa(freePort(t))
		if _, errOut, code := c.exec(t, []string{closed}, entrypoint, "healthcheck"); code != 1 || !strings.Contains(errOut, "app:") {
			t.Errorf("app healthcheck with %s exited %d, want 1 with the app's error\n%s", closed, code, errOut)
		}
	})
	t.Run("timezone", func(t *testing.T) {
		checkLogTimes(t, c, "+01:00", "+02:00")
	})
	t.Run("tls", func(t *testing.T) {
		out, errOut, code := c.exec(t, nil, probePath)
		if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "OK") {
			t.Errorf("tlsprobe in the container exited %d, want 0 and OK:\n%s%s", code, out, errOut)
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		c.stop(t)
		if !strings.Contains(c.stdout.String(), "shutdown complete") {
			t.Errorf("the app did not log its shutdown\n%s", c.logs())
		}
	})
}

// TestRunArbitraryUID runs the image as a uid it does not name, with gid 0,
// as OpenShift does.
func TestRunArbitraryUID(t *testing.T) {
	built(t)
	t.Parallel()
	u := user{UID: 1000650000, GID: 0}
	c := startContainer(t, containerSpec{User: &u})
	c.checkUser(t, u)
	if status, body := c.get(t, "/ping"); status != http.StatusOK {
		t.Errorf("GET /ping = %d %s, want 200\n%s", status, body, c.logs())
	}
	// Without TZ the app logs in UTC.
	checkLogTimes(t, c, "Z")
	c.stop(t)
}

// buildProbe compiles testdata/tlsprobe as a static binary.
func buildProbe(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tlsprobe")
	iv := invocation{Dir: built(t).root, Env: []string{"CGO_ENABLED=0"}, Timeout: buildTimeout}
	iv.must(t, "go", "build", "-o", out, "./e2e/testdata/tlsprobe")
	return out
}

var (
	goroutinesLine = regexp.MustCompile(`(?m)^go_goroutines \d+$`)
	pingCountLine  = regexp.MustCompile(`(?m)^http_requests_total\{[^}]*route="/ping"[^}]*\} [1-9]\d*$`)
)

// checkEndpoints checks every route, in order: /metrics must count /ping.
func checkEndpoints(t *testing.T, c *container) {
	for _, tc := range []struct {
		path  string
		check func(t *testing.T, body []byte)
	}{
		{"/ping", func(t *testing.T, body []byte) {
			if diff := cmp.Diff(`{"message":"pong"}`, string(body)); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		}},
		{"/healthz", nil},
		{"/readyz", nil},
		{"/version", checkVersion},
		{"/metrics", func(t *testing.T, body []byte) {
			for _, re := range []*regexp.Regexp{goroutinesLine, pingCountLine} {
				if !re.Match(body) {
					t.Errorf("no line matches %s in:\n%s", re, body)
				}
			}
		}},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			status, body := c.get(t, tc.path)
			if status != http.StatusOK {
				t.Fatalf("GET %s = %d %s, want 200\n%s", tc.path, status, body, c.logs())
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

func checkVersion(t *testing.T, body []byte) {
	t.Helper()
	var v struct{ Version, Commit, Date, Go string }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decoding /version: %v\n%s", err, body)
	}
	if v.Version != tag || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("/version = %s, want version %q and a go version", body, tag)
	}
}

// checkLogTimes checks that the container logged JSON lines, each with a
// "time" ending in one of suffixes.
func checkLogTimes(t *testing.T, c *container, suffixes ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(c.stdout.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("want the startup line and request lines, got %d lines\n%s", len(lines), c.logs())
	}
	var bad []string
	for _, line := range lines {
		var entry struct{ Time string }
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		ok := false
		for _, s := range suffixes {
			ok = ok || strings.HasSuffix(entry.Time, s)
		}
		if !ok {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d log lines have a time not ending in any of %q, such as:\n%s", len(bad), len(lines), suffixes, bad[0])
	}
}
