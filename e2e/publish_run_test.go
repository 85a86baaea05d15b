package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPublishedImageRuns publishes v1.2.0, pulls it back with skopeo, which
// builder did not write, and runs it with umoci and runc.
func TestPublishedImageRuns(t *testing.T) {
	requireRegistryTools(t)
	built(t)
	t.Parallel()
	reg := startRegistry(t, true)
	p := newPublisher(t, reg)
	repo := reg.host + "/team/app"
	p.publish(t, "--tag", "v1.2.0", "--repo", repo)

	layout := filepath.Join(t.TempDir(), "oci")
	args := append([]string{"copy"}, reg.skopeoAuth("src-")...)
	mustRun(t, "skopeo", append(args, "docker://"+repo+":v1.2.0", "oci:"+layout+":img")...)
	c := startContainer(t, containerSpec{Image: layout + ":img"})

	status, body := c.get(t, "/ping")
	if status != http.StatusOK {
		t.Errorf("GET /ping = %d %s, want 200\n%s", status, body, c.logs())
	}
	if diff := cmp.Diff(`{"message":"pong"}`, string(body)); diff != "" {
		t.Errorf("GET /ping body mismatch (-want +got):\n%s", diff)
	}
	status, body = c.get(t, "/version")
	var v struct{ Version, Commit string }
	if err := json.Unmarshal(body, &v); status != http.StatusOK || err != nil {
		t.Fatalf("GET /version = %d %s (%v), want 200 and JSON\n%s", status, body, err, c.logs())
	}
	commit := strings.TrimSpace(mustRun(t, "git", "-C", p.clone, "rev-parse", "HEAD"))
	if diff := cmp.Diff(struct{ Version, Commit string }{"v1.2.0", commit}, v); diff != "" {
		t.Errorf("GET /version mismatch (-want +got):\n%s", diff)
	}
	c.stop(t)
}
