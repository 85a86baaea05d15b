package source_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildercli/builder/internal/moduletest"
	"github.com/buildercli/builder/internal/source"
)

// shop writes a module with two main packages, a library, a package with
// no Go files, a main package that only a build tag makes main, and a
// nested module, and returns its root.
func shop(t *testing.T, extra map[string]string) string {
	t.Helper()
	files := map[string]string{
		"go.mod":                 "module github.com/acme/shop\n\ngo 1.22\n",
		"cmd/api/main.go":        "package main\n\nfunc main() {}\n",
		"cmd/worker/main.go":     "package main\n\nfunc main() {}\n",
		"lib/lib.go":             "package lib\n",
		"lib/gen.go":             "//go:build ignore\n\npackage main\n",
		"docs/README.md":         "no Go here\n",
		"nested/go.mod":          "module github.com/acme/nested\n\ngo 1.22\n",
		"nested/main.go":         "package main\n\nfunc main() {}\n",
		"testdata/tool/main.go":  "package main\n\nfunc main() {}\n",
		"internal/v2/v2.go":      "package v2\n",
		"tool/v3/main.go":        "package main\n\nfunc main() {}\n",
		".hidden/cmd/x/main.go":  "package main\n\nfunc main() {}\n",
		"_old/cmd/old/main.go":   "package main\n\nfunc main() {}\n",
		"vendor/x/cmd/y/main.go": "package main\n\nfunc main() {}\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	return moduletest.Write(t, files)
}

func TestFindSpellings(t *testing.T) {
	root := shop(t, nil)
	t.Chdir(root)
	for _, arg := range []string{"./cmd/api", "cmd/api", "./cmd/api/", "cmd/api/.", filepath.Join(root, "cmd/api"), "github.com/acme/shop/cmd/api"} {
		t.Run(arg, func(t *testing.T) {
			p, err := source.Find(context.Background(), arg, "")
			if err != nil {
				t.Fatalf("Find(%q): %v", arg, err)
			}
			want := source.Package{Dir: filepath.Join(root, "cmd/api"), ImportPath: "github.com/acme/shop/cmd/api", Name: "api",
				ModRoot: root, ModPath: "github.com/acme/shop", KoConfig: filepath.Join(root, ".ko.yaml")}
			if p != want {
				t.Errorf("Find(%q) = %+v, want %+v", arg, p, want)
			}
		})
	}
}

func TestFindName(t *testing.T) {
	root := shop(t, nil)
	t.Chdir(root)
	p, err := source.Find(context.Background(), "./tool/v3", "")
	if err != nil || p.Name != "tool" || p.ImportPath != "github.com/acme/shop/tool/v3" {
		t.Errorf("Find(./tool/v3) = %+v, %v; want the name tool, before the major version", p, err)
	}
	for in, want := range map[string]string{"example.com/whoami": "whoami", "example.com/a/v2": "a", "v2": "v2", "example.com/x/v2beta": "v2beta"} {
		if got := source.NameOf(in); got != want {
			t.Errorf("NameOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFindErrors(t *testing.T) {
	root := shop(t, nil)
	t.Chdir(root)
	for _, tc := range []struct{ arg, want string }{
		{"./lib", "./lib is not a main package (package lib)"},
		{"github.com/acme/shop/lib", "is not a main package (package lib)"},
		{"./docs", "no Go files"},
		{"./nope", "./nope is not a directory"},
		{"/no/such/dir", "is not a directory"},
		{"github.com/acme/shop/nope", "finding package github.com/acme/shop/nope"},
		{"not a path!", "neither a directory nor an import path"},
		// go's names for sets of packages are not packages.
		{"std", "std is a go package pattern, not a package"},
		{"all", "all is a go package pattern, not a package"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			_, err := source.Find(context.Background(), tc.arg, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Find(%q) = %v, want an error containing %q", tc.arg, err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

func TestFindDefault(t *testing.T) {
	t.Run("several main packages", func(t *testing.T) {
		root := shop(t, nil)
		t.Chdir(filepath.Join(root, "lib"))
		_, err := source.Find(context.Background(), "", "")
		want := "the module has 3 main packages (./cmd/api, ./cmd/worker, ./tool/v3)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Find() = %v, want an error listing them: %q", err, want)
		}
	})
	t.Run("the only build of .ko.yaml", func(t *testing.T) {
		root := shop(t, map[string]string{".ko.yaml": "builds:\n- id: w\n  dir: .\n  main: ./cmd/worker\n"})
		t.Chdir(root)
		p, err := source.Find(context.Background(), "", "")
		if err != nil || p.ImportPath != "github.com/acme/shop/cmd/worker" {
			t.Fatalf("Find() = %+v, %v; want .ko.yaml's only build", p, err)
		}
	})
	t.Run("the only main package", func(t *testing.T) {
		pkg := moduletest.Hello(t, nil)
		t.Chdir(filepath.Dir(pkg))
		p, err := source.Find(context.Background(), "", "")
		if err != nil || p.ImportPath != "example.com/hello/hello" || p.Name != "hello" {
			t.Fatalf("Find() = %+v, %v; want the module's only main package", p, err)
		}
	})
	t.Run("outside a module", func(t *testing.T) {
		t.Chdir(t.TempDir())
		_, err := source.Find(context.Background(), "", "")
		if err == nil || !strings.Contains(err.Error(), "not inside a Go module") {
			t.Fatalf("Find() = %v, want an error saying there is no module", err)
		}
	})
}

func TestKoConfigPath(t *testing.T) {
	root := shop(t, map[string]string{"conf/.ko.yaml": "builds: []\n", "other.yaml": "builds: []\n"})
	t.Chdir(root)
	for override, want := range map[string]string{
		filepath.Join(root, "conf"):       filepath.Join(root, "conf/.ko.yaml"),
		filepath.Join(root, "other.yaml"): filepath.Join(root, "other.yaml"),
	} {
		p, err := source.Find(context.Background(), "./cmd/api", override)
		if err != nil || p.KoConfig != want {
			t.Errorf("KO_CONFIG_PATH=%s: KoConfig %q, %v; want %q", override, p.KoConfig, err, want)
		}
	}
	for _, bad := range []string{filepath.Join(root, "missing.yaml"), filepath.Join(root, "lib")} {
		if _, err := source.Find(context.Background(), "./cmd/api", bad); err == nil || !strings.Contains(err.Error(), "KO_CONFIG_PATH") {
			t.Errorf("KO_CONFIG_PATH=%s: %v, want an error naming KO_CONFIG_PATH", bad, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
}
