package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runc runs runc against the container's state directory.
func (c *container) runc(args ...string) (stdout, stderr string, err error) {
	return invocation{Timeout: execTimeout}.run("runc", append([]string{"--root", c.runcRoot}, args...)...)
}

// exec runs args in the container, with the image's user and environment
// plus env, and returns its output and exit code.
func (c *container) exec(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := []string{"exec"}
	for _, kv := range env {
		cmd = append(cmd, "--env", kv)
	}
	cmd = append(append(cmd, c.name), args...)
	stdout, stderr, err := c.runc(cmd...)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout, stderr, 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return stdout, stderr, exit.ExitCode()
	}
	t.Fatalf("runc exec %s: %v\n%s", strings.Join(args, " "), err, c.logs())
	return "", "", 0
}

// checkUser checks the uid and gid of the container's first process, as the
// host's kernel sees them.
func (c *container) checkUser(t *testing.T, want user) {
	t.Helper()
	out, _, err := c.runc("state", c.name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	var state struct{ Pid int }
	if err := json.Unmarshal([]byte(out), &state); err != nil || state.Pid <= 0 {
		t.Fatalf("runc state %s: no pid (%v):\n%s", c.name, err, out)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", state.Pid))
	if err != nil {
		t.Fatalf("reading the status of the container's process: %v", err)
	}
	ids := map[string][]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "Uid" || k == "Gid") {
			ids[k] = strings.Fields(v)
		}
	}
	u, g := fmt.Sprint(want.UID), fmt.Sprint(want.GID)
	wantIDs := map[string][]string{"Uid": {u, u, u, u}, "Gid": {g, g, g, g}}
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("real, effective, saved and fs ids of pid %d mismatch (-want +got):\n%s", state.Pid, diff)
	}
}

// stop sends SIGTERM and requires `runc run` to exit with status 0 within
// stopTimeout; then it deletes the container.
func (c *container) stop(t *testing.T) {
	t.Helper()
	if _, _, err := c.runc("kill", c.name, "TERM"); err != nil {
		t.Fatalf("%v\n%s", err, c.logs())
	}
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		t.Fatalf("the container did not exit within %s of SIGTERM\n%s", stopTimeout, c.logs())
	}
	if c.err != nil {
		t.Errorf("after SIGTERM, runc run returned %v, want exit status 0\n%s", c.err, c.logs())
	}
	c.delete(t)
}

// delete deletes the container; it is no error that runc already did.
func (c *container) delete(t *testing.T) {
	t.Helper()
	if _, stderr, err := c.runc("delete", "--force", c.name); err != nil && !strings.Contains(stderr, "does not exist") {
		t.Errorf("%v", err)
	}
}

// remove kills the container if it still runs, waits for `runc run` and
// deletes the container, whatever state the test left it in.
func (c *container) remove(t *testing.T) {
	select {
	case <-c.done:
	default:
		if _, _, err := c.runc("kill", c.name, "KILL"); err != nil {
			t.Logf("cleanup: %v", err)
		}
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Logf("cleanup: runc run outlived SIGKILL of %s; killing runc", c.name)
			if err := c.cmd.Process.Kill(); err != nil {
				t.Logf("cleanup: killing runc run: %v", err)
			}
			<-c.done
		}
	}
	c.delete(t)
}
