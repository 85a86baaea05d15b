// Package moduletest writes small Go modules into temporary directories, for tests.
package moduletest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// ShopYAML is the deploy.yaml of Shop: Kubernetes YAML with two ko://
// references, one of them twice, comments, and a CRD with a custom
// resource of its kind, written as yaml.v3 writes it so that only the
// references change when it is resolved.
const ShopYAML = `# The shop: two services, a CRD and a resource of its kind.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api # the front door
spec:
  template:
    spec:
      containers:
        - name: api
          image: ko://example.com/shop/cmd/api
        - name: worker
          image: ko://example.com/shop/cmd/worker
          args: [--queue, jobs]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: nightlies.example.com
spec:
  group: example.com
  names: {kind: Nightly, plural: nightlies}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
---
# ko:// works in any kind.
apiVersion: example.com/v1
kind: Nightly
metadata:
  name: nightly
spec:
  zebra: 1
  image: "ko://example.com/shop/cmd/api" # the same image again
  alpha: not-ko://example.com/shop/cmd/api
`

// Shop writes the module example.com/shop, main packages cmd/api and
// cmd/worker (each doing nothing) and the library lib, with ShopYAML as
// deploy.yaml beside its go.mod, as one commit, and returns its root.
func Shop(t testing.TB) string {
	t.Helper()
	main := "package main\n\nfunc main() {}\n"
	root := Write(t, map[string]string{
		"go.mod":             "module example.com/shop\n\ngo 1.22\n",
		"cmd/api/main.go":    main,
		"cmd/worker/main.go": main,
		"lib/lib.go":         "package lib\n",
		"deploy.yaml":        ShopYAML,
	})
	Commit(t, root)
	return root
}

// CommitTime is the time of every commit Commit makes.
const CommitTime = "2024-05-01T12:00:00Z"

// Commit makes root a git repository holding one commit of every file in
// it, made by a fixed author at CommitTime with no user or system git
// configuration, so that the same files give the same commit. It returns the
// commit's short hash.
func Commit(t testing.TB, root string) string {
	t.Helper()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
			"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com", "GIT_AUTHOR_DATE="+CommitTime,
			"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com", "GIT_COMMITTER_DATE="+CommitTime)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), root, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "test")
	return git("rev-parse", "--short", "HEAD")
}
