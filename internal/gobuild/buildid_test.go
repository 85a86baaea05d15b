package gobuild_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildercli/builder/internal/gobuild"
)

// TestBuildID reads the ID the linker wrote and checks it against `go tool
// buildid`, and that another version string gives another ID.
func TestBuildID(t *testing.T) {
	p := hostPlatform(t)
	dir := module(t, versionMain)
	ids := map[string]string{}
	for _, version := range []string{"v1", "v2"} {
		out := filepath.Join(t.TempDir(), "tiny")
		err := gobuild.Build(context.Background(), gobuild.Options{
			Dir: dir, Package: ".", Platform: p, Env: buildEnv(),
			Ldflags: "-s -w -X main.version=" + version, Output: out,
		})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		got, err := gobuild.BuildID(out)
		if err != nil {
			t.Fatalf("BuildID: %v", err)
		}
		want, err := exec.Command("go", "tool", "buildid", out).Output()
		if err != nil {
			t.Fatalf("go tool buildid: %v", err)
		}
		if got != strings.TrimSpace(string(want)) {
			t.Errorf("BuildID = %q, go tool buildid says %q", got, want)
		}
		ids[version] = got
	}
	if ids["v1"] == ids["v2"] {
		t.Errorf("two different binaries share the build ID %s", ids["v1"])
	}
}

func TestBuildIDErrors(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "text")
	if err := os.WriteFile(notELF, []byte("not a binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{notELF, filepath.Join(t.TempDir(), "missing")} {
		if id, err := gobuild.BuildID(p); err == nil {
			t.Errorf("BuildID(%s) = %q, want an error", p, id)
		}
	}
}
