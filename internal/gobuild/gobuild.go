// Package gobuild compiles a Go main package into a static Linux binary.
package gobuild

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Options says what to compile and how.
type Options struct {
	// Dir is the directory go build runs in.
	Dir string
	// Package is the main package, relative to Dir ("./app").
	Package string
	// Platform is the target.
	Platform v1.Platform
	// Env is the environment to start from (the caller's os.Environ()).
	// Target settings in it (GOOS, GOARCH, GOARM, GOAMD64, CGO_ENABLED) are
	// replaced.
	Env []string
	// BuildEnv is set over Env (.ko.yaml's env). It may not enable cgo.
	BuildEnv []string
	// Flags are extra go build flags (.ko.yaml's flags).
	Flags []string
	// Ldflags is passed as -ldflags.
	Ldflags string
	// Output is the path of the binary to write.
	Output string
	// ImportPath is the package's import path; BuildMany compiles packages
	// that name theirs together, in one go build.
	ImportPath string
	// CacheProg, when set, is the GOCACHEPROG go build runs with: a cache
	// program that keeps the compiler's outputs (see gocache). It changes
	// how fast the binary is made, never its bytes.
	CacheProg string
	// Progress, when set, shows what the compiler does on a long build.
	Progress *Progress
}

// CompileError is returned when the compiler rejects the package; Output
// holds what it printed.
type CompileError struct {
	Package string
	Output  string
	Err     error
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("compiling %s: %v (compiler output above)", e.Package, e.Err)
}

func (e *CompileError) Unwrap() error { return e.Err }

// Args returns the go command line for opts (without "go").
func Args(opts Options) []string {
	args := buildArgs(opts.Flags)
	if opts.Ldflags != "" {
		args = append(args, "-ldflags="+opts.Ldflags)
	}
	return append(args, "-o", opts.Output, opts.Package)
}

// buildArgs is "build" with builder's flags and flags (-trimpath once).
func buildArgs(flags []string) []string {
	args := []string{"build", "-trimpath", "-buildvcs=false"}
	for _, f := range flags {
		if f != "-trimpath" {
			args = append(args, f)
		}
	}
	return args
}

// Environ returns the environment go build runs with.
func Environ(opts Options) ([]string, error) {
	target := map[string]bool{"GOOS": true, "GOARCH": true, "GOARM": true, "GOAMD64": true,
		"GO386": true, "GOARM64": true, "GOMIPS": true, "GOMIPS64": true, "GOPPC64": true,
		"GORISCV64": true, "CGO_ENABLED": true}
	var env []string
	for _, kv := range opts.Env {
		k, _, _ := strings.Cut(kv, "=")
		if !target[k] {
			env = append(env, kv)
		}
	}
	env = append(env, goEnv(opts.Platform)...)
	env = append(env, "CGO_ENABLED=0")
	if opts.CacheProg != "" {
		env = append(env, "GOCACHEPROG="+opts.CacheProg)
	}
	for _, kv := range opts.BuildEnv {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "CGO_ENABLED" && v != "0":
			return nil, fmt.Errorf("build env sets %s: images are static, remove it from .ko.yaml", kv)
		case k != "CGO_ENABLED" && target[k]:
			return nil, fmt.Errorf("build env sets %s: the platform decides it, remove it from .ko.yaml and use --platform", kv)
		}
		env = append(env, kv)
	}
	return env, nil
}

// Build compiles opts.Package to opts.Output and checks that the result is
// statically linked.
func Build(ctx context.Context, opts Options) error {
	env, err := Environ(opts)
	if err != nil {
		return err
	}
	unit := Unit{Name: label(opts), ImportPath: opts.ImportPath}
	if err := run(ctx, opts.Dir, env, Args(opts), []string{opts.Package}, unit.Name, []Unit{unit}, opts.Progress); err != nil {
		return err
	}
	return CheckStatic(opts.Output)
}

// label names what opts compiles in progress lines.
func label(opts Options) string {
	if opts.ImportPath != "" {
		return opts.ImportPath
	}
	return opts.Package
}

// run runs go with args in dir, with -v so that progress can count the
// packages compiled; what go prints but those names is kept for a
// CompileError. pkgs are the packages built, as go build is given them,
// and units the same as progress names them.
func run(ctx context.Context, dir string, env, args, pkgs []string, what string, units []Unit, p *Progress) error {
	args = append([]string{args[0], "-v"}, args[1:]...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	w := p.start(ctx, what, units, dir, env, args, pkgs, &out)
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	w.finish(err == nil)
	if err != nil {
		if ctx.Err() != nil {
			// Killed for it: the signal it died of says nothing more.
			return fmt.Errorf("go build interrupted: %w", ctx.Err())
		}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return &CompileError{Package: what, Output: out.String(), Err: err}
		}
		return fmt.Errorf("running go build: %w", err)
	}
	return nil
}

// CheckStatic returns an error unless the ELF file at p is statically linked:
// no program interpreter and no shared libraries needed.
func CheckStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it names a program interpreter): check the build flags", p)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("reading the libraries %s needs: %w", p, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %s: check the build flags", p, strings.Join(libs, ", "))
	}
	return nil
}

// BuildID returns the Go build ID the linker wrote into the binary at p:
// ACTION/CONTENT hashes, the second over the file's content. It is read from
// the ELF note, without reading the whole file.
func BuildID(p string) (string, error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	sec := f.Section(".note.go.buildid")
	if sec == nil {
		return "", fmt.Errorf("%s has no Go build ID", p)
	}
	note, err := sec.Data()
	if err != nil {
		return "", fmt.Errorf("reading the build ID of %s: %w", p, err)
	}
	// An ELF note: name size, descriptor size, type, then the name "Go\0\0"
	// and the descriptor, the ID itself.
	if len(note) < 16 {
		return "", fmt.Errorf("%s has a malformed Go build ID note", p)
	}
	bo := f.ByteOrder
	nameSize, descSize := bo.Uint32(note[0:4]), bo.Uint32(note[4:8])
	start := 12 + (nameSize+3)&^3
	if nameSize != 4 || string(note[12:15]) != "Go\x00" || uint32(len(note)) < start+descSize {
		return "", fmt.Errorf("%s has a malformed Go build ID note", p)
	}
	return string(note[start : start+descSize]), nil
}
