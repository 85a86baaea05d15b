package source

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/buildercli/builder/internal/vcs"
)

// IsPattern reports whether arg names packages with "...": ./cmd/...,
// example.com/shop/cmd/....
func IsPattern(arg string) bool {
	return arg == "..." || strings.HasSuffix(arg, "/...")
}

// ReadAll finds the main packages args name — each a directory, an import
// path, or a pattern ending in /... that stands for every main package
// under it (non-main packages are passed over) — in the order given, each
// once, and reads the state of their checkouts. With no args, it is Read's
// one package.
func ReadAll(ctx context.Context, args []string, koConfigPath string) ([]Package, error) {
	if len(args) == 0 {
		p, err := Read(ctx, "", koConfigPath)
		if err != nil {
			return nil, err
		}
		return []Package{p}, nil
	}
	var pkgs []Package
	seen := map[string]string{}
	for _, arg := range args {
		found, err := findAll(ctx, arg, koConfigPath)
		if err != nil {
			return nil, err
		}
		for _, p := range found {
			if _, ok := seen[p.Dir]; ok {
				continue
			}
			seen[p.Dir] = arg
			pkgs = append(pkgs, p)
		}
	}
	gits := map[string]vcs.Info{}
	for i, p := range pkgs {
		git, ok := gits[p.ModRoot]
		if !ok {
			var err error
			git, err = vcs.Read(ctx, p.ModRoot)
			if err != nil && !errors.Is(err, vcs.ErrNoGit) {
				return nil, fmt.Errorf("reading the git state of %s: %w", p.ImportPath, err)
			}
			gits[p.ModRoot] = git
		}
		pkgs[i].Git = git
	}
	return pkgs, nil
}

// findAll finds the packages arg names: one, or for a pattern every main
// package under its directory.
func findAll(ctx context.Context, arg, koConfigPath string) ([]Package, error) {
	if !IsPattern(arg) {
		p, err := Find(ctx, arg, koConfigPath)
		if err != nil {
			return nil, err
		}
		return []Package{p}, nil
	}
	prefix := strings.TrimSuffix(strings.TrimSuffix(arg, "..."), "/")
	var dir string
	var err error
	switch {
	case prefix == "" || prefix == ".":
		dir, err = filepath.Abs(".")
	case isDir(prefix):
		dir, err = filepath.Abs(prefix)
	case strings.HasPrefix(prefix, ".") || filepath.IsAbs(prefix):
		return nil, fmt.Errorf("%s: %s is not a directory: put /... after a directory or an import path", arg, prefix)
	default:
		dir, err = importDir(ctx, prefix)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	dirs, err := mainsUnder(dir)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%s matches no main package: give a pattern over your commands' directories (./cmd/... holds every main package under ./cmd)", arg)
	}
	pkgs := make([]Package, len(dirs))
	for i, d := range dirs {
		if pkgs[i], err = inDir(d, d, koConfigPath); err != nil {
			return nil, err
		}
	}
	return pkgs, nil
}
