package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/buildercli/builder/internal/base"
)

// env is what every scenario shares: the tools, the registry, the base.
type env struct {
	root, work  string
	builder, ko string
	host        string // the registry, 127.0.0.1:PORT
	// far is the same registry as a CI runner far from it sees it: each
	// request 20 ms later, and 100 Mbit/s shared by every upload.
	far     string
	farSrv  *http.Server
	base    string // the base, pinned by digest
	counter *uploadCounter
	srv     *http.Server
	edits   int
	// run names this bench run in every edit it makes, so that each edit
	// is new to the Go build cache, as a developer's change is: edits that
	// repeat those of an earlier run find their packages compiled already,
	// and a build after them only links.
	run string
	// only picks the scenarios to run; coldRuns is how many runs each
	// cold scenario has.
	only     *regexp.Regexp
	coldRuns int
	// fleet is the module of eight services the scale scenarios build;
	// goModCache the module cache a fresh runner shares.
	fleet, goModCache string
	libEdits          int
}

func newEnv(ctx context.Context, root, work string, only *regexp.Regexp, coldRuns int) (*env, error) {
	e := &env{root: root, work: work, builder: filepath.Join(work, "builder"), ko: filepath.Join(work, "ko"),
		only: only, coldRuns: coldRuns, run: rand.Text()}
	fmt.Fprintln(os.Stderr, "bench: building builder and ko "+koVersion+"…")
	if err := e.cmd(ctx, root, nil, "go", "build", "-o", e.builder, "./cmd/builder"); err != nil {
		return nil, err
	}
	benchDir := filepath.Join(root, "bench")
	if err := e.cmd(ctx, benchDir, nil, "go", "build", "-o", e.ko, "github.com/google/ko"); err != nil {
		return nil, err
	}
	if err := e.startRegistry(); err != nil {
		return nil, err
	}
	if err := e.pushBase(); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	e.goModCache = strings.TrimSpace(string(out))
	if err := e.writeFleet(); err != nil {
		return nil, err
	}
	return e, nil
}

// koVersion is the ko the bench pins (bench/go.mod's tool directive).
const koVersion = "v0.19.1"

func (e *env) startRegistry() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.host = l.Addr().String()
	e.counter = &uploadCounter{}
	h := e.counter.wrap(registry.New(registry.Logger(nopLogger())))
	e.srv = &http.Server{Handler: h}
	go func() { _ = e.srv.Serve(l) }()
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.far = fl.Addr().String()
	e.farSrv = &http.Server{Handler: farAway(h, farLatency, farMbit)}
	go func() { _ = e.farSrv.Serve(fl) }()
	return nil
}

func (e *env) close() {
	_ = e.srv.Close()
	_ = e.farSrv.Close()
}

// pushBase pushes builder's built-in base for linux/amd64 and linux/arm64
// as one index, which both tools then build on.
func (e *env) pushBase() error {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		p := v1.Platform{OS: "linux", Architecture: arch}
		img, err := base.Builtin(p)
		if err != nil {
			return err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	ref, err := name.ParseReference(e.host + "/base:builtin")
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		return fmt.Errorf("pushing the base: %w", err)
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	e.base = e.host + "/base@" + d.String()
	return nil
}

// guard saves a file the scenarios edit; the returned function restores it.
func (e *env) guard(path string) (func(), error) {
	orig, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return func() {
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "bench: restoring %s: %v\n", path, err)
		}
	}, nil
}

// change appends a new comment line to the app: a one-line change.
func (e *env) change() error {
	e.edits++
	f, err := os.OpenFile(filepath.Join(e.root, "app", "main.go"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "\n// bench edit %d of run %s\n", e.edits, e.run)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (e *env) cmd(ctx context.Context, dir string, env []string, name string, args ...string) error {
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
