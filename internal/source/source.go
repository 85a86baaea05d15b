// Package source finds what a build starts from: the main package a user
// names (a directory, an import path, or none for the module's only one),
// the module that holds it, its .ko.yaml, and the state of its git checkout.
package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/buildercli/builder/internal/vcs"
)

// Package is a main package in its module and checkout.
type Package struct {
	// Dir is the package's directory, absolute.
	Dir string
	// ImportPath is the package's import path; it names the package in
	// everything a build writes, never Dir.
	ImportPath string
	// Name is the last element of the import path (the one before a major
	// version suffix such as /v2): the binary's default name, as ko's.
	Name string
	// ModRoot is the directory of the module's go.mod; ModPath the module
	// path it declares.
	ModRoot, ModPath string
	// KoConfig is the path of the .ko.yaml that applies: $KO_CONFIG_PATH's,
	// else the module root's (which may not exist).
	KoConfig string
	// Git is the state of the checkout that holds the package; empty when
	// it is in none, or git is not installed.
	Git vcs.Info
}

// Read finds the main package arg names (see Find) and reads the state of
// its checkout.
func Read(ctx context.Context, arg, koConfigPath string) (Package, error) {
	p, err := Find(ctx, arg, koConfigPath)
	if err != nil {
		return Package{}, err
	}
	git, err := vcs.Read(ctx, p.Dir)
	if err != nil && !errors.Is(err, vcs.ErrNoGit) {
		return Package{}, fmt.Errorf("reading the git state of %s: %w", p.ImportPath, err)
	}
	p.Git = git
	return p, nil
}

// Find finds the main package arg names, without asking git: a directory
// ("./cmd/api", "/abs/path", "app"), an import path
// ("github.com/acme/shop/cmd/api"), or, when arg is empty, the only build
// of .ko.yaml or else the only main package of the module that holds the
// current directory. koConfigPath is $KO_CONFIG_PATH: a file or a
// directory holding .ko.yaml; "" for the module root's.
func Find(ctx context.Context, arg, koConfigPath string) (Package, error) {
	var dir string
	var err error
	switch {
	case arg == "":
		dir, err = findDefault(koConfigPath)
	case isDir(arg):
		dir, err = filepath.Abs(arg)
	case strings.HasPrefix(arg, ".") || filepath.IsAbs(arg):
		return Package{}, fmt.Errorf("%s is not a directory: give the directory or import path of a main package", arg)
	default:
		dir, err = importDir(ctx, arg)
	}
	if err != nil {
		return Package{}, err
	}
	return inDir(dir, arg, koConfigPath)
}

// inDir describes the main package in dir, which arg named.
func inDir(dir, arg, koConfigPath string) (Package, error) {
	if arg == "" {
		arg = "."
	}
	name, err := packageName(dir)
	if err != nil {
		return Package{}, fmt.Errorf("%s: %w", arg, err)
	}
	if name != "main" {
		return Package{}, fmt.Errorf("%s is not a main package (package %s): give the directory or import path of a main package", arg, name)
	}
	root, modPath, err := FindModule(dir)
	if err != nil {
		return Package{}, fmt.Errorf("%s: %w", arg, err)
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return Package{}, fmt.Errorf("locating %s in %s: %w", dir, root, err)
	}
	ko, err := koConfig(koConfigPath, root)
	if err != nil {
		return Package{}, err
	}
	importPath := strings.TrimSuffix(modPath+"/"+filepath.ToSlash(rel), "/.")
	return Package{Dir: dir, ImportPath: importPath, Name: NameOf(importPath), ModRoot: root, ModPath: modPath,
		KoConfig: ko}, nil
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// NameOf is the last element of an import path, or the one before a major
// version suffix: github.com/acme/shop/cmd/api → api, example.com/tool/v2 →
// tool.
func NameOf(importPath string) string {
	base := path.Base(importPath)
	if dir := path.Dir(importPath); majorVersion.MatchString(base) && dir != "." {
		return path.Base(dir)
	}
	return base
}

// koConfig returns the .ko.yaml that applies: $KO_CONFIG_PATH's (a file, or
// a directory that holds one), else the module root's.
func koConfig(override, modRoot string) (string, error) {
	if override == "" {
		return filepath.Join(modRoot, ".ko.yaml"), nil
	}
	fi, err := os.Stat(override)
	if err != nil {
		return "", fmt.Errorf("KO_CONFIG_PATH=%s: %w", override, errors.Unwrap(err))
	}
	if fi.IsDir() {
		p := filepath.Join(override, ".ko.yaml")
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("KO_CONFIG_PATH=%s: the directory holds no .ko.yaml", override)
		}
		return p, nil
	}
	return override, nil
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

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
