// Package probe gives an image builder's HTTP healthcheck probe: the small
// static program in src/, compiled for the image's platform with the Go
// toolchain that compiles the service, deterministically, once per platform
// and cached.
package probe

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/gobuild"
)

// Path is where the probe lives in an image.
const Path = "/usr/local/bin/builder-probe"

//go:embed src/main.go
var source []byte

// goMod is the probe's own module: it needs nothing but the standard
// library.
const goMod = "module builder.probe\n\ngo 1.22\n"

// Argv returns the healthcheck command that GETs path on the loopback port.
func Argv(port int, path string) []string {
	return []string{Path, "http://127.0.0.1:" + strconv.Itoa(port) + path}
}

// Build compiles the probe for p and returns the binary's path: in c's
// binary cache, where an unchanged toolchain skips go build, or in its
// scratch directory. env is the environment the compiler starts from.
func Build(ctx context.Context, c cache.Cache, p v1.Platform, env []string) (string, func(), error) {
	dir, unlock := filepath.Join(c.Scratch, "probe", p.OS+"-"+p.Architecture+"-"+p.Variant), func() {}
	if c.Enabled() {
		var err error
		if dir, unlock, err = c.BinaryDir("builder-probe\x00" + p.String()); err != nil {
			return "", nil, err
		}
	}
	bin, err := build(ctx, dir, p, env, c.Enabled())
	if err != nil {
		unlock()
		return "", nil, fmt.Errorf("building the healthcheck probe for %s: %w", p, err)
	}
	return bin, unlock, nil
}

func build(ctx context.Context, dir string, p v1.Platform, env []string, cached bool) (string, error) {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	for name, data := range map[string][]byte{"go.mod": []byte(goMod), "main.go": source} {
		path := filepath.Join(src, name)
		if have, err := atomicfile.ReadRegular(path, int64(len(data))); err == nil && string(have) == string(data) {
			continue // the same bytes: the fingerprint stays
		}
		if err := atomicfile.ReplaceFile(path, data); err != nil {
			return "", err
		}
	}
	opts := gobuild.Options{Dir: src, Package: ".", Platform: p, Env: withoutWorkspace(env),
		Ldflags: "-s -w", Output: filepath.Join(dir, "builder-probe")}
	if !cached {
		return opts.Output, gobuild.Build(ctx, opts)
	}
	_, err := gobuild.BuildIfChanged(ctx, opts)
	return opts.Output, err
}

// withoutWorkspace keeps a user's go.work or GOFLAGS from reaching the
// probe's own module.
func withoutWorkspace(env []string) []string {
	return append(append([]string(nil), env...), "GOWORK=off", "GOFLAGS=")
}
