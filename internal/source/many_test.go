package source_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/buildercli/builder/internal/source"
)

func TestReadAllPatterns(t *testing.T) {
	root := shop(t, nil)
	t.Chdir(root)
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"./cmd/..."}, []string{"cmd/api", "cmd/worker"}},
		{[]string{"github.com/acme/shop/cmd/..."}, []string{"cmd/api", "cmd/worker"}},
		{[]string{filepath.Join(root, "cmd") + "/..."}, []string{"cmd/api", "cmd/worker"}},
		// Every main package of the module, but testdata, vendor, hidden
		// and _ directories and the nested module; libraries passed over.
		{[]string{"./..."}, []string{"cmd/api", "cmd/worker", "tool/v3"}},
		{[]string{"..."}, []string{"cmd/api", "cmd/worker", "tool/v3"}},
		// In the order named, each once.
		{[]string{"./cmd/worker", "./cmd/...", "./tool/v3"}, []string{"cmd/worker", "cmd/api", "tool/v3"}},
	} {
		pkgs, err := source.ReadAll(ctx, tc.args, "")
		if err != nil {
			t.Errorf("ReadAll(%q): %v", tc.args, err)
			continue
		}
		var got []string
		for _, p := range pkgs {
			rel, _ := filepath.Rel(root, p.Dir)
			got = append(got, filepath.ToSlash(rel))
			if p.ImportPath != "github.com/acme/shop/"+filepath.ToSlash(rel) {
				t.Errorf("ReadAll(%q): %s has import path %s", tc.args, rel, p.ImportPath)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ReadAll(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestReadAllErrors(t *testing.T) {
	root := shop(t, nil)
	t.Chdir(root)
	for arg, want := range map[string]string{
		"./lib/...":     "./lib/... matches no main package: give a pattern over your commands' directories (./cmd/... holds every main package under ./cmd)",
		"./nothing/...": "./nothing/...: ./nothing is not a directory: put /... after a directory or an import path",
	} {
		_, err := source.ReadAll(context.Background(), []string{"./cmd/api", arg}, "")
		if err == nil || err.Error() != want {
			t.Errorf("ReadAll(%q) = %v, want %q", arg, err, want)
		}
	}
}
