package pipeline_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/registrytest"
)

// builderBinary builds builder once for the tests that need it to serve
// the Go build cache (the test binary cannot).
var builderBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "builder-test-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "builder")
	cmd := exec.Command("go", "build", "-o", out, "github.com/buildercli/builder/cmd/builder")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", &exec.Error{Name: string(msg), Err: err}
	}
	return out, nil
})

// runner is a fresh machine: its own empty Go build cache, builder cache
// and home, publishing with the shared cache at cacheRepo.
func runner(t *testing.T, pkg, repo, version, cacheRepo string) (testOptions, *bytes.Buffer) {
	t.Helper()
	self, err := builderBinary()
	if err != nil {
		t.Fatalf("building builder: %v", err)
	}
	home := t.TempDir()
	o := options(pkg, repo, version)
	o.CacheRepo = cacheRepo
	var log bytes.Buffer
	o.env.Log = &log
	o.env.Self = self
	o.env.Cache = cache.Cache{Dir: filepath.Join(home, "builder-cache")}
	o.env.Environ = append(os.Environ(), "HOME="+home, "GOCACHE="+filepath.Join(home, "go-build"), "GOFLAGS=-buildvcs=false")
	// The last line says how many packages were compiled.
	o.env.Progress = &gobuild.Progress{W: &log, Delay: time.Nanosecond, Every: time.Hour}
	return o, &log
}

var compiledLine = regexp.MustCompile(`(?m)^compiled \S+: (\d+) packages in`)

func compiled(t *testing.T, log string) int {
	t.Helper()
	m := compiledLine.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no compiled line in the log:\n%s", log)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestSharedGoBuildCache(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	pkg := committed(t, nil)
	cacheRepo := reg.Host + "/cache/go"

	first, log1 := runner(t, pkg, reg.Host+"/hello", "v1.0.0", cacheRepo)
	res1 := run(t, first)
	n1 := compiled(t, log1.String())
	if !strings.Contains(log1.String(), "new Go build outputs") {
		t.Errorf("the first runner shared nothing:\n%s", log1)
	}

	// A second machine, empty, publishes the same commit elsewhere.
	second, log2 := runner(t, pkg, reg.Host+"/hello2", "v1.0.0", cacheRepo)
	res2 := run(t, second)
	n2 := compiled(t, log2.String())
	if res1.Digest != res2.Digest {
		t.Errorf("digests differ: %s, then %s from the shared cache", res1.Digest, res2.Digest)
	}
	// The main package is compiled again (it carries the version), and
	// nothing else.
	if n1 < 20 || n2 > 1 {
		t.Errorf("compiled %d packages, then %d with the shared cache: want dozens, then at most 1", n1, n2)
	}
	t.Logf("compiled %d packages on an empty machine, %d on the next with the shared cache", n1, n2)
}

func TestSharedGoBuildCacheDown(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	down := registrytest.New(t, registrytest.Config{})
	down.Close()
	pkg := committed(t, nil)
	o, log := runner(t, pkg, reg.Host+"/hello", "v1.0.0", down.Host+"/cache/go")
	want := run(t, o).Digest

	notes := regexp.MustCompile(`(?m)^note: .*Go build cache.*$`).FindAllString(log.String(), -1)
	if len(notes) != 1 || !strings.Contains(notes[0], "compiling without the shared Go build cache") {
		t.Errorf("notes about the cache: %q, want one saying it is not used:\n%s", notes, log)
	}
	// The same image as without any shared cache.
	plain, _ := runner(t, pkg, reg.Host+"/plain", "v1.0.0", "")
	if got := run(t, plain).Digest; got != want {
		t.Errorf("digest %s with the cache down, %s without one", want, got)
	}
}

func TestCacheRepoRefusedBeforeBuilding(t *testing.T) {
	t.Parallel()
	pkg := committed(t, nil)
	o, _ := runner(t, pkg, "registry.example/hello", "v1.0.0", "registry.example/Cache")
	_, err := o.publish(context.Background())
	checkOneLine(t, err, "--cache-repo")
}
