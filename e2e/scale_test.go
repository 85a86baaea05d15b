package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/buildercli/builder/internal/moduletest"
)

// fleetModule is a module of services sharing a library, committed.
func fleetModule(t *testing.T, services ...string) string {
	t.Helper()
	files := map[string]string{
		"go.mod":     "module example.com/fleet\n\ngo 1.22\n",
		"lib/lib.go": "package lib\n\nimport \"encoding/json\"\n\nfunc Word() string { b, _ := json.Marshal(\"hello\"); return string(b) }\n",
	}
	for _, s := range services {
		files["cmd/"+s+"/main.go"] = "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/fleet/lib\"\n)\n\nfunc main() { fmt.Println(lib.Word(), \"" + s + "\") }\n"
	}
	root := moduletest.Write(t, files)
	moduletest.Commit(t, root)
	return root
}

// TestSeveralServicesRealRegistry publishes every service under ./cmd to a
// real registry with TLS and credentials, then a release in which one
// service does not compile: no image of it reaches the registry.
func TestSeveralServicesRealRegistry(t *testing.T) {
	b := built(t)
	reg := startRegistry(t, true)
	root := fleetModule(t, "api", "worker")
	env := reg.env("", t.TempDir())

	res := runBuilder(t, b.builder, root, env, "", "publish", "./cmd/...", "--tag", "v1.0.0", "--repo", reg.host+"/shop")
	if res.code != 0 {
		t.Fatalf("%v", res)
	}
	digests := map[string]string{}
	for _, svc := range []string{"api", "worker"} {
		tags := reg.tags(t, "shop/"+svc)
		if !slices.Equal(tags, []string{"git-" + shortCommit(t, root), "latest", "v1", "v1.0", "v1.0.0"}) {
			t.Errorf("shop/%s tags: %q", svc, tags)
		}
		digests[svc] = reg.tagDigests(t, "shop/"+svc)["v1.0.0"]
		if !strings.Contains(res.stdout, reg.host+"/shop/"+svc+":v1.0.0@"+digests[svc]+"\n") {
			t.Errorf("stdout lacks %s's reference:\n%s", svc, res.stdout)
		}
	}

	// A third service that does not compile: the run fails before any image
	// is pushed or tagged.
	if err := os.MkdirAll(filepath.Join(root, "cmd", "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "cmd", "broken", "main.go"), []byte("package main\n\nfunc main() { nothing() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res = runBuilder(t, b.builder, root, env, "", "publish", "./cmd/...", "--tag", "v1.1.0", "--repo", reg.host+"/shop", "--allow-dirty")
	if res.code == 0 || res.stdout != "" || !strings.Contains(res.stderr, "undefined: nothing") {
		t.Fatalf("want a compile failure, nothing on stdout: %v", res)
	}
	for _, svc := range []string{"api", "worker"} {
		if got := reg.tagDigests(t, "shop/"+svc); got["latest"] != digests[svc] || got["v1.1.0"] != "" {
			t.Errorf("shop/%s after the failed release: %v", svc, got)
		}
	}
	if out, _, err := reg.craneRun("ls", reg.host+"/shop/broken"); err == nil && strings.TrimSpace(out) != "" {
		t.Errorf("shop/broken has tags: %q", out)
	}
}

var sharedLine = regexp.MustCompile(`(?m)^shared (\d+) new Go build outputs`)

// TestSharedGoBuildCacheRealRegistry: a first, empty machine publishes with
// --cache-repo on a real registry (TLS, credentials as for publish); a
// second, empty machine publishes the same commit: the same digest, and it
// compiles (almost) nothing, so it has (almost) no new output to share:
// go puts a few entries of its own even when every compile is a hit.
func TestSharedGoBuildCacheRealRegistry(t *testing.T) {
	b := built(t)
	reg := startRegistry(t, true)
	root := fleetModule(t, "api")
	machine := func(repo string) outcome {
		home := t.TempDir()
		env := append(reg.env("", filepath.Join(home, "builder")), "HOME="+home, "GOCACHE="+filepath.Join(home, "go-build"),
			"XDG_CACHE_HOME=", "XDG_CONFIG_HOME=")
		res := runBuilder(t, b.builder, root, env, "", "publish", "./cmd/api", "--tag", "v1.0.0", "--repo", reg.host+"/"+repo,
			"--cache-repo", reg.host+"/cache/go")
		if res.code != 0 {
			t.Fatalf("%v", res)
		}
		return res
	}
	first := machine("one")
	m := sharedLine.FindStringSubmatch(first.stderr)
	if m == nil {
		t.Fatalf("the first machine shared nothing:\n%s", first.stderr)
	}
	n1, _ := strconv.Atoi(m[1])
	second := machine("two")
	n2 := 0
	if m := sharedLine.FindStringSubmatch(second.stderr); m != nil {
		n2, _ = strconv.Atoi(m[1])
	}
	if n1 < 50 || n2*20 > n1 {
		t.Errorf("new outputs shared: %d by the first machine, %d by the second; want dozens, then almost none", n1, n2)
	}
	d1, d2 := reg.tagDigests(t, "one")["v1.0.0"], reg.tagDigests(t, "two")["v1.0.0"]
	if d1 == "" || d1 != d2 {
		t.Errorf("digests: %q on the first machine, %q on the second", d1, d2)
	}
	if strings.Contains(second.stderr, "note:") && strings.Contains(second.stderr, "Go build cache") {
		t.Errorf("the second machine noted a cache problem:\n%s", second.stderr)
	}
	t.Logf("first machine %s (%d outputs shared), second %s (%d)", first.took, n1, second.took, n2)
}

// shortCommit is the short hash of root's HEAD.
func shortCommit(t *testing.T, root string) string {
	t.Helper()
	return strings.TrimSpace(invocation{Dir: root}.must(t, "git", "rev-parse", "--short", "HEAD"))
}
