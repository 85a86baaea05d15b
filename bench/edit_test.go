package main

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The fleet's edits are new to the Go build cache in each bench run: the
// library edited as an earlier run edited it is found compiled, and the
// same edit of a new run is compiled again.
func TestLibraryEditsNewEachRun(t *testing.T) {
	dir := t.TempDir()
	err := writeFiles(dir, map[string][]byte{
		"go.mod":      []byte("module example.com/fleet\n\ngo 1.24\n"),
		"svc/main.go": []byte("package main\n\nimport \"example.com/fleet/lib\"\n\nfunc main() { println(lib.Edit()) }\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	// compiled edits the library and returns the packages go build
	// compiled after it.
	compiled := func(src []byte) string {
		t.Helper()
		if err := writeFiles(dir, map[string][]byte{"lib/lib.go": src}); err != nil {
			t.Fatal(err)
		}
		c := exec.Command("go", "build", "-v", "-o", filepath.Join(dir, "bin")+string(filepath.Separator), "./svc")
		c.Dir = dir
		c.Env = append(os.Environ(), "GOCACHE="+cache, "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		return strings.Join(strings.Fields(string(out)), " ")
	}
	first, second := rand.Text(), rand.Text()
	if got := compiled(libSource(first, 1)); !strings.Contains(got, "example.com/fleet/lib") {
		t.Fatalf("first edit: go build compiled %q, want the library", got)
	}
	if got := compiled(libSource(first, 2)); got != "example.com/fleet/lib example.com/fleet/svc" {
		t.Errorf("next edit: go build compiled %q, want the library and the service", got)
	}
	// An edit an earlier run made: its packages are in the cache.
	if got := compiled(libSource(first, 1)); got != "" {
		t.Errorf("an earlier run's edit: go build compiled %q, want nothing", got)
	}
	if got := compiled(libSource(second, 1)); got != "example.com/fleet/lib example.com/fleet/svc" {
		t.Errorf("the same edit of a new run: go build compiled %q, want the library and the service", got)
	}
}
