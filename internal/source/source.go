// Package source finds what a build starts from: the main package, the
// module that holds it, and the state of its git checkout.
package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/buildercli/builder/internal/vcs"
)

// DefaultPath is the package built when no path is given.
const DefaultPath = "./app"

// Package is a main package in its module and checkout.
type Package struct {
	// Path is the package as given, "./app".
	Path string
	// Dir is the package's directory, absolute.
	Dir string
	// Name is the binary's name: the directory's.
	Name string
	// ModRoot is the directory of the enclosing go.mod; ModPath the module
	// path it declares.
	ModRoot, ModPath string
	// ImportPath is the package's import path.
	ImportPath string
	// Git is the state of the checkout that holds the package; empty when
	// it is in none, or git is not installed.
	Git vcs.Info
}

// Read locates the package at path (DefaultPath when empty) and reads the
// state of its checkout.
func Read(ctx context.Context, path string) (Package, error) {
	p, err := Locate(path)
	if err != nil {
		return Package{}, err
	}
	git, err := vcs.Read(ctx, p.Dir)
	if err != nil && !errors.Is(err, vcs.ErrNoGit) {
		return Package{}, fmt.Errorf("reading the git state of %s: %w", p.Path, err)
	}
	p.Git = git
	return p, nil
}

// Locate finds the package at path (DefaultPath when empty) and its module,
// without asking git.
func Locate(path string) (Package, error) {
	if path == "" {
		path = DefaultPath
	}
	dir, err := filepath.Abs(path)
	if err != nil {
		return Package{}, fmt.Errorf("resolving %s: %w", path, err)
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Package{}, fmt.Errorf("path %s does not exist: give the directory of a main package, e.g. ./app", path)
	}
	if err != nil {
		return Package{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if !fi.IsDir() {
		return Package{}, fmt.Errorf("path %s is not a directory: give the directory of a main package, e.g. ./app", path)
	}
	root, modPath, err := FindModule(dir)
	if err != nil {
		return Package{}, fmt.Errorf("path %s: %w", path, err)
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return Package{}, fmt.Errorf("locating %s in %s: %w", dir, root, err)
	}
	return Package{Path: path, Dir: dir, Name: filepath.Base(dir), ModRoot: root, ModPath: modPath,
		ImportPath: strings.TrimSuffix(modPath+"/"+filepath.ToSlash(rel), "/.")}, nil
}

// ErrNoModule says that a directory is in no Go module.
var ErrNoModule = errors.New("not inside a Go module: no go.mod above it")

// FindModule returns the directory of the go.mod at or above dir, and the
// module path it declares.
func FindModule(dir string) (root, modPath string, err error) {
	for root := dir; ; {
		data, err := os.ReadFile(filepath.Join(root, "go.mod"))
		if err == nil {
			return root, modfile.ModulePath(data), nil
		}
		parent := filepath.Dir(root)
		if parent == root {
			return "", "", ErrNoModule
		}
		root = parent
	}
}
