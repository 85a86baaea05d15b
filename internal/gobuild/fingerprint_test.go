package gobuild_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildercli/builder/internal/gobuild"
)

// TestBuildIfChanged: an unchanged tree and build skip go build; any change
// that go build would see makes it run again.
func TestBuildIfChanged(t *testing.T) {
	p := hostPlatform(t)
	embedding := strings.Replace(versionMain, `import "fmt"`, "import (\n\t_ \"embed\"\n\t\"fmt\"\n)", 1) +
		"\n//go:embed asset.txt\nvar asset string\n"
	dir := module(t, embedding)
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("asset.txt", "one")
	opts := gobuild.Options{
		Dir: dir, Package: ".", Platform: p, Env: buildEnv(),
		Ldflags: "-X main.version=v1", Output: filepath.Join(t.TempDir(), "app"),
	}
	build := func(o gobuild.Options) bool {
		t.Helper()
		fresh, err := gobuild.BuildIfChanged(context.Background(), o)
		if err != nil {
			t.Fatalf("BuildIfChanged: %v", err)
		}
		return fresh
	}
	if build(opts) {
		t.Fatal("the first build was skipped")
	}
	if !build(opts) {
		t.Error("an unchanged build ran go build again")
	}
	for _, tc := range []struct {
		name   string
		change func() gobuild.Options
	}{
		{"a Go source", func() gobuild.Options { write("extra.go", "package main\n\nvar extra = 1\n"); return opts }},
		{"an embedded file", func() gobuild.Options {
			time.Sleep(10 * time.Millisecond) // a new modification time even on coarse clocks
			write("asset.txt", "two")
			return opts
		}},
		{"the ldflags", func() gobuild.Options { o := opts; o.Ldflags = "-X main.version=v2"; return o }},
		{"the environment", func() gobuild.Options { o := opts; o.Env = append(buildEnv(), "GOEXPERIMENT="); return o }},
		{"go.mod", func() gobuild.Options { write("go.mod", "module example.com/tiny\n\ngo 1.22\n"); return opts }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.change()
			if build(o) {
				t.Errorf("changing %s did not rebuild", tc.name)
			}
			if !build(o) {
				t.Errorf("after changing %s, an unchanged build ran again", tc.name)
			}
			opts = o
		})
	}
	// The binary replaced behind the stamp's back: rebuilt.
	if err := exec.Command("cp", "/bin/true", opts.Output).Run(); err != nil {
		t.Fatal(err)
	}
	if build(opts) {
		t.Error("a replaced binary was taken as up to date")
	}
}

// TestFingerprintWorkspace: a go.work makes other modules inputs; no
// fingerprint is taken and go build always runs.
func TestFingerprintWorkspace(t *testing.T) {
	p := hostPlatform(t)
	dir := module(t, versionMain)
	opts := gobuild.Options{Dir: dir, Package: ".", Platform: p, Env: buildEnv(), Output: filepath.Join(t.TempDir(), "app")}
	if gobuild.Fingerprint(opts) == "" {
		t.Fatal("a plain module got no fingerprint")
	}
	if err := os.WriteFile(filepath.Join(dir, "go.work"), []byte("go 1.21\n\nuse .\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.Env = append(opts.Env, "GOWORK=")
	if fp := gobuild.Fingerprint(opts); fp != "" {
		t.Errorf("a workspace got the fingerprint %s", fp)
	}
}
