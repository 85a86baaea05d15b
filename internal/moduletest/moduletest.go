// Package moduletest writes small Go modules into temporary directories, for tests.
package moduletest

import (
	"os"
	"path/filepath"
	"testing"
)

// helloMain is the main package of the module Hello writes.
const helloMain = `package main

import "fmt"

var version = "dev"

func main() { fmt.Println(version) }
`

// Write writes files (slash-separated path → content) into a new temporary
// directory, making their parent directories, and returns the directory.
func Write(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatalf("making %s: %v", p, err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatalf("writing %s: %v", p, err)
		}
	}
	return root
}

// Hello writes the module example.com/hello, holding the main package hello,
// which prints its version variable ("dev" unless the build sets
// main.version), plus the given extra files (path → content), and returns
// the package directory.
func Hello(t testing.TB, extra map[string]string) string {
	t.Helper()
	all := map[string]string{"go.mod": "module example.com/hello\n\ngo 1.22\n", "hello/main.go": helloMain}
	for k, v := range extra {
		all[k] = v
	}
	return filepath.Join(Write(t, all), "hello")
}
