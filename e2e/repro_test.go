package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// otherUID builds the second clone: a user with no account, as a CI runner
// or a colleague's machine would be, with its own HOME and caches.
const otherUID = 4242

// TestReproducibleAcrossClones builds the committed HEAD from two clones —
// different paths, umasks, HOMEs, Go and builder caches, and users — and
// requires the same image digest.
func TestReproducibleAcrossClones(t *testing.T) {
	b := built(t)
	t.Parallel()
	tmp := t.TempDir()
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("opening %s to the other user: %v", d, err)
		}
	}
	modcache := sharedModCache(t, b.root, filepath.Join(tmp, "modcache"))
	builder := filepath.Join(tmp, "builder")
	copyFile(t, b.builder, builder)
	if err := os.Chmod(builder, 0o755); err != nil {
		t.Fatalf("making builder executable for all: %v", err)
	}

	first := cloneAt(t, b.root, filepath.Join(tmp, "a"), -1)
	second := cloneAt(t, b.root, filepath.Join(tmp, "elsewhere", "deeper", "b"), otherUID)

	d1 := reproBuild(t, builder, first, reproUser{uid: 0, umask: "022", home: filepath.Join(tmp, "home-a"), modcache: modcache})
	d2 := reproBuild(t, builder, second, reproUser{uid: otherUID, umask: "077", home: filepath.Join(tmp, "home-b"), modcache: modcache})
	if d1 != d2 {
		t.Fatalf("same commit, two clones: digests %s and %s differ", d1, d2)
	}
	t.Logf("both clones built %s", d1)
}

// cloneAt clones the repository's HEAD to dir, gives it a remote URL with
// credentials (which must not reach the image), and hands it to uid when
// uid >= 0.
func cloneAt(t *testing.T, root, dir string, uid int) string {
	t.Helper()
	mustRun(t, "git", "clone", "--quiet", "--no-local", root, dir)
	mustRun(t, "git", "-C", dir, "remote", "set-url", "origin", "https://ci:secret-token@example.com/acme/builder.git")
	if uid >= 0 {
		mustRun(t, "chown", "-R", fmt.Sprintf("%d:%d", uid, uid), dir)
	}
	return dir
}

type reproUser struct {
	uid      int
	umask    string
	home     string
	modcache string
}

// reproBuild runs builder in clone as u, with only u's HOME, caches and
// umask, and returns the digest and checks the labels it printed.
func reproBuild(t *testing.T, builder, clone string, u reproUser) string {
	t.Helper()
	if err := os.MkdirAll(u.home, 0o755); err != nil {
		t.Fatalf("making %s: %v", u.home, err)
	}
	mustRun(t, "chown", fmt.Sprintf("%d:%d", u.uid, u.uid), u.home)
	out := filepath.Join(u.home, "app.tar")
	script := fmt.Sprintf("umask %s && exec %s build ./app --tarball %s", u.umask, builder, out)
	args := []string{fmt.Sprintf("--reuid=%d", u.uid), fmt.Sprintf("--regid=%d", u.uid), "--clear-groups", "sh", "-c", script}
	cmd := exec.Command("setpriv", args...)
	cmd.Dir = clone
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + u.home, "GOMODCACHE=" + u.modcache,
		"GOPROXY=off", "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local",
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("building in %s as uid %d: %v\n%s", clone, u.uid, err, stderr.String())
	}
	digest := strings.TrimSpace(string(stdout))
	if !digestPattern.MatchString(digest) {
		t.Fatalf("builder printed %q, want a digest; stderr:\n%s", stdout, stderr.String())
	}
	cfg := skopeoConfig(t, out)
	if got, want := cfg.Config.Labels["org.opencontainers.image.source"], "https://example.com/acme/builder"; got != want {
		t.Errorf("source label %q, want %q (credentials and .git stripped)", got, want)
	}
	return digest
}

// sharedModCache copies the modules the repository needs into dir, readable
// by every user, from the local module cache (no network), so that a user
// without access to root's cache builds offline.
func sharedModCache(t *testing.T, root, dir string) string {
	t.Helper()
	src := strings.TrimSpace(mustRun(t, "go", "env", "GOMODCACHE"))
	iv := invocation{Dir: root, Env: []string{
		"GOMODCACHE=" + dir, "GOPROXY=file://" + filepath.Join(src, "cache", "download"),
		"GOFLAGS=-mod=readonly", "GOSUMDB=off",
	}, Timeout: buildTimeout}
	// Listing the app's dependencies fetches what building it needs.
	iv.must(t, "go", "list", "-tags=nomsgpack", "-deps", "./app")
	mustRun(t, "chmod", "-R", "a+rX", dir)
	return dir
}
