package gobuild_test

import (
	"context"
	"debug/elf"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/moduletest"
)

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts gobuild.Options
		want []string
	}{
		{
			name: "minimal",
			opts: gobuild.Options{Package: "./cmd/app", Output: "/tmp/app"},
			want: []string{"build", "-trimpath", "-buildvcs=false", "-o", "/tmp/app", "./cmd/app"},
		},
		{
			name: "flags and ldflags",
			opts: gobuild.Options{Package: ".", Output: "out/app", Flags: []string{"-tags=netgo", "-v"},
				Ldflags: "-s -w -X main.version=v1"},
			want: []string{"build", "-trimpath", "-buildvcs=false", "-tags=netgo", "-v",
				"-ldflags=-s -w -X main.version=v1", "-o", "out/app", "."},
		},
		{
			name: "trimpath in flags is not repeated",
			opts: gobuild.Options{Package: "./app", Output: "app", Flags: []string{"-trimpath", "-tags=osusergo", "-trimpath"}},
			want: []string{"build", "-trimpath", "-buildvcs=false", "-tags=osusergo", "-o", "app", "./app"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := gobuild.Args(tc.opts)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnviron(t *testing.T) {
	callerEnv := []string{
		"PATH=/usr/bin", "GOOS=windows", "HOME=/home/me", "GOARCH=386", "GOARM=5",
		"GOAMD64=v4", "CGO_ENABLED=1", "GOFLAGS=-mod=mod", "GOARCHIVE=kept",
	}
	kept := []string{"PATH=/usr/bin", "HOME=/home/me", "GOFLAGS=-mod=mod", "GOARCHIVE=kept"}
	for _, tc := range []struct {
		name     string
		platform v1.Platform
		buildEnv []string
		target   []string
	}{
		{"amd64", v1.Platform{OS: "linux", Architecture: "amd64"}, nil,
			[]string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"}},
		{"amd64 v3", v1.Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}, nil,
			[]string{"GOOS=linux", "GOARCH=amd64", "GOAMD64=v3", "CGO_ENABLED=0"}},
		{"arm64", v1.Platform{OS: "linux", Architecture: "arm64"}, nil,
			[]string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}},
		{"arm v7", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, nil,
			[]string{"GOOS=linux", "GOARCH=arm", "GOARM=7", "CGO_ENABLED=0"}},
		{"build env last", v1.Platform{OS: "linux", Architecture: "arm64"}, []string{"GOEXPERIMENT=loopvar", "CGO_ENABLED=0"},
			[]string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOEXPERIMENT=loopvar", "CGO_ENABLED=0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gobuild.Environ(gobuild.Options{Platform: tc.platform, Env: callerEnv, BuildEnv: tc.buildEnv})
			if err != nil {
				t.Fatalf("Environ: %v", err)
			}
			want := append(append([]string(nil), kept...), tc.target...)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Environ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvironRejectsCgoAndTargetSettings(t *testing.T) {
	for _, kv := range []string{"CGO_ENABLED=1", "CGO_ENABLED=", "CGO_ENABLED", "GOOS=windows", "GOARCH=arm64", "GOARM=6"} {
		t.Run(kv, func(t *testing.T) {
			env, err := gobuild.Environ(gobuild.Options{
				Platform: v1.Platform{OS: "linux", Architecture: "amd64"},
				BuildEnv: []string{"FOO=bar", kv},
			})
			if err == nil {
				t.Errorf("Environ with build env %q = %q, want an error", kv, env)
			}
		})
	}
}

// hostPlatform returns the platform of this machine, or skips the test when
// it is not Linux.
func hostPlatform(t *testing.T) v1.Platform {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("building Linux binaries to run needs a Linux host, not %s", runtime.GOOS)
	}
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// module writes a module named example.com/tiny holding main.go in a
// temporary directory and returns the directory.
func module(t *testing.T, mainGo string) string {
	t.Helper()
	return moduletest.Write(t, map[string]string{
		"go.mod":  "module example.com/tiny\n\ngo 1.21\n",
		"main.go": mainGo,
	})
}

// buildEnv is the caller environment for builds in tests: this process's,
// kept off the network and out of any enclosing workspace.
func buildEnv() []string {
	return append(os.Environ(), "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
}

const versionMain = `package main

import "fmt"

var version = "unset"

func main() { fmt.Println(version) }
`

func TestBuild(t *testing.T) {
	p := hostPlatform(t)
	dir := module(t, versionMain)
	out := filepath.Join(t.TempDir(), "tiny")
	err := gobuild.Build(context.Background(), gobuild.Options{
		Dir:      dir,
		Package:  ".",
		Platform: p,
		Env:      append(buildEnv(), "CGO_ENABLED=1"), // replaced by CGO_ENABLED=0
		Flags:    []string{"-tags=netgo"},
		Ldflags:  "-s -w -X main.version=v1.2.3",
		Output:   out,
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := gobuild.CheckStatic(out); err != nil {
		t.Errorf("CheckStatic: %v", err)
	}
	got, err := exec.Command(out).Output()
	if err != nil {
		t.Fatalf("running %s: %v", out, err)
	}
	if diff := cmp.Diff("v1.2.3\n", string(got)); diff != "" {
		t.Errorf("binary output (-want +got):\n%s", diff)
	}
	// -trimpath: the module directory must not be in the binary.
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("reading %s: %v", out, err)
	}
	if strings.Contains(string(bin), dir) {
		t.Errorf("binary contains the build directory %s", dir)
	}
}

func TestBuildCompileError(t *testing.T) {
	p := hostPlatform(t)
	dir := module(t, "package main\n\nfunc main() { undefinedThing() }\n")
	out := filepath.Join(t.TempDir(), "tiny")
	err := gobuild.Build(context.Background(), gobuild.Options{
		Dir: dir, Package: ".", Platform: p, Env: buildEnv(), Output: out,
	})
	var ce *gobuild.CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("Build = %v (%T), want a *CompileError", err, err)
	}
	if !strings.Contains(ce.Output, "undefined: undefinedThing") {
		t.Errorf("CompileError.Output lacks the compiler's message:\n%s", ce.Output)
	}
	if ce.Package != "." {
		t.Errorf("CompileError.Package = %q, want %q", ce.Package, ".")
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Errorf("CompileError does not unwrap to the *exec.ExitError: %v", ce.Err)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("output after a failed compile: stat = %v, want not exist", err)
	}
}

func TestBuildErrorsBeforeCompiling(t *testing.T) {
	p := hostPlatform(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		canceled bool
		opts     gobuild.Options
	}{
		{"cgo in build env", false, gobuild.Options{BuildEnv: []string{"CGO_ENABLED=1"}}},
		{"canceled context", true, gobuild.Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Dir = module(t, versionMain)
			opts.Package, opts.Platform, opts.Env = ".", p, buildEnv()
			opts.Output = filepath.Join(t.TempDir(), "tiny")
			ctx := context.Background()
			if tc.canceled {
				ctx = canceled
			}
			err := gobuild.Build(ctx, opts)
			if err == nil {
				t.Fatalf("Build succeeded, want an error")
			}
			var ce *gobuild.CompileError
			if errors.As(err, &ce) {
				t.Errorf("Build = %v, a CompileError; want another error", err)
			}
			if _, err := os.Stat(opts.Output); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("output after a failed build: stat = %v, want not exist", err)
			}
		})
	}
}

// TestBuildInterrupted: a build stopped part way says it was interrupted,
// not what signal go died of, and leaves no output.
func TestBuildInterrupted(t *testing.T) {
	opts := gobuild.Options{Dir: module(t, versionMain), Package: ".", Platform: hostPlatform(t),
		// A cold build cache: the compile runs long enough to be stopped.
		Env: append(buildEnv(), "GOCACHE="+t.TempDir()), Output: filepath.Join(t.TempDir(), "tiny")}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := gobuild.Build(ctx, opts)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "go build interrupted") {
		t.Fatalf("Build = %v, want it interrupted", err)
	}
	if _, err := os.Stat(opts.Output); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("output after an interrupted build: stat = %v, want not exist", err)
	}
}

// cgoBinary compiles a program that links libc dynamically, or skips the
// test when no C compiler is available.
func cgoBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skipf("gcc is needed to build a dynamic binary: %v", err)
	}
	dir := module(t, `package main

// #include <stdlib.h>
import "C"

func main() { C.abs(-1) }
`)
	out := filepath.Join(t.TempDir(), "dynamic")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(buildEnv(), "CGO_ENABLED=1", "CC=gcc")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building a cgo program: %v\n%s", err, b)
	}
	return out
}

func TestCheckStaticErrors(t *testing.T) {
	hostPlatform(t)
	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
	}{
		{"cgo binary", cgoBinary},
		{"system binary", func(t *testing.T) string {
			p, err := exec.LookPath("ls")
			if err != nil {
				t.Skipf("no ls: %v", err)
			}
			f, err := elf.Open(p)
			if err != nil {
				t.Skipf("%s is not ELF: %v", p, err)
			}
			t.Cleanup(func() { f.Close() })
			for _, prog := range f.Progs {
				if prog.Type == elf.PT_INTERP {
					return p
				}
			}
			t.Skipf("%s is statically linked here", p)
			return ""
		}},
		{"not ELF", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "script")
			if err := os.WriteFile(p, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
				t.Fatalf("writing %s: %v", p, err)
			}
			return p
		}},
		{"empty file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "empty")
			if err := os.WriteFile(p, nil, 0o755); err != nil {
				t.Fatalf("writing %s: %v", p, err)
			}
			return p
		}},
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "absent") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.path(t)
			if err := gobuild.CheckStatic(p); err == nil {
				t.Errorf("CheckStatic(%s) = nil, want an error", p)
			}
		})
	}
}
