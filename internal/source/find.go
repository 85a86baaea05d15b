package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"

	"github.com/buildercli/builder/internal/koconfig"
)

// packageName returns the name of the Go package in dir, as a linux build
// without cgo sees it (build constraints applied).
func packageName(dir string) (string, error) {
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = "linux", "amd64", false
	p, err := ctx.ImportDir(dir, 0)
	var noGo *build.NoGoError
	switch {
	case errors.As(err, &noGo):
		return "", errors.New("no Go files there: give the directory or import path of a main package")
	case err != nil && p.Name == "":
		return "", err
	}
	return p.Name, nil
}

// importDir returns the directory of the package at importPath: in the
// module that holds the current directory, else where `go list` finds it.
func importDir(ctx context.Context, importPath string) (string, error) {
	if metaPatterns[importPath] {
		return "", fmt.Errorf("%s is a go package pattern, not a package: give the directory or import path of a main package, or DIR/... for every main package under DIR", importPath)
	}
	if err := module.CheckImportPath(importPath); err != nil {
		return "", fmt.Errorf("%s is neither a directory nor an import path: give the directory or import path of a main package", importPath)
	}
	if cwd, err := os.Getwd(); err == nil {
		if root, modPath, err := FindModule(cwd); err == nil {
			if rest, ok := strings.CutPrefix(importPath, modPath); ok && (rest == "" || rest[0] == '/') {
				if dir := filepath.Join(root, filepath.FromSlash(rest)); isDir(dir) {
					return dir, nil
				}
			}
		}
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-find", "-f", "{{.Dir}}", importPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if first, _, _ := strings.Cut(msg, "\n"); first != "" {
			msg = first
		}
		return "", fmt.Errorf("finding package %s: %s", importPath, msg)
	}
	return strings.TrimSpace(string(out)), nil
}

// metaPatterns are the go command's names for sets of packages, which
// go list would expand.
var metaPatterns = map[string]bool{"all": true, "std": true, "cmd": true, "tool": true, "work": true}

// findDefault returns the package a build without an argument is for: the
// only build of .ko.yaml, else the only main package of the module that
// holds the current directory.
func findDefault(koConfigPath string) (string, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the current directory: %w", err)
	}
	root, _, err := FindModule(cwd)
	if err != nil {
		return "", fmt.Errorf("no package given, and %s is %w: give the directory or import path of a main package", cwd, err)
	}
	ko, err := koConfig(koConfigPath, root)
	if err != nil {
		return "", err
	}
	cfg, err := koconfig.Load(ko)
	if err != nil {
		return "", err
	}
	if len(cfg.Builds) == 1 {
		b := cfg.Builds[0]
		return filepath.Join(cfg.Dir, b.Dir, b.Main), nil
	}
	mains, err := MainPackages(root)
	if err != nil {
		return "", err
	}
	switch len(mains) {
	case 1:
		return filepath.Join(root, mains[0]), nil
	case 0:
		return "", fmt.Errorf("no package given, and the module in %s has no main package: give the directory or import path of one", root)
	}
	return "", fmt.Errorf("no package given, and the module has %d main packages (%s): name one, e.g. builder build %s", len(mains), strings.Join(mains, ", "), mains[0])
}

// MainPackages lists the main packages of the module at root, as
// "./dir" paths relative to it, sorted: every directory but hidden ones,
// testdata, vendor and nested modules.
func MainPackages(root string) ([]string, error) {
	dirs, err := mainsUnder(root)
	if err != nil {
		return nil, err
	}
	mains := make([]string, len(dirs))
	for i, d := range dirs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			return nil, err
		}
		mains[i] = "./" + filepath.ToSlash(rel)
		if rel == "." {
			mains[i] = "."
		}
	}
	return mains, nil
}

// mainsUnder lists the directories of the main packages at and under dir,
// sorted, passing over hidden directories, testdata, vendor and nested
// modules, as the go command's patterns do.
func mainsUnder(dir string) ([]string, error) {
	var mains []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir {
			n := d.Name()
			if strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata" || n == "vendor" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		if name, err := packageName(p); err == nil && name == "main" {
			mains = append(mains, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the main packages under %s: %w", dir, err)
	}
	return mains, nil
}
