package gobuild_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/moduletest"
)

// services writes a module with a shared library and main packages named
// by names, each printing the library's greeting and its own version.
func services(t *testing.T, names ...string) string {
	t.Helper()
	files := map[string]string{
		"go.mod":     "module example.com/fleet\n\ngo 1.21\n",
		"lib/lib.go": "package lib\n\nfunc Greeting() string { return \"hello\" }\n",
	}
	for _, n := range names {
		files["cmd/"+n+"/main.go"] = `package main

import (
	"fmt"

	"example.com/fleet/lib"
)

var version = "unset"

func main() { fmt.Println(lib.Greeting(), version) }
`
	}
	return moduletest.Write(t, files)
}

// fleetOptions are the options of building each of names in dir, each
// with its own version.
func fleetOptions(t *testing.T, dir, out string, names ...string) []gobuild.Options {
	p := hostPlatform(t)
	var all []gobuild.Options
	for _, n := range names {
		all = append(all, gobuild.Options{
			Dir: dir, Package: "./cmd/" + n, ImportPath: "example.com/fleet/cmd/" + n, Platform: p, Env: buildEnv(),
			Ldflags: "-s -w -X main.version=" + n + "-1", Output: filepath.Join(out, n, n),
		})
		if err := os.MkdirAll(filepath.Join(out, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

func TestBuildManyMatchesSeparateBuilds(t *testing.T) {
	names := []string{"api", "worker", "admin"}
	dir := services(t, names...)
	ctx := context.Background()

	together := fleetOptions(t, dir, t.TempDir(), names...)
	fresh, err := gobuild.BuildMany(ctx, together, true)
	if err != nil {
		t.Fatalf("BuildMany: %v", err)
	}
	for i, f := range fresh {
		if f {
			t.Errorf("fresh[%d] on a first build", i)
		}
	}
	apart := fleetOptions(t, dir, t.TempDir(), names...)
	for _, opts := range apart {
		if err := gobuild.Build(ctx, opts); err != nil {
			t.Fatalf("Build %s: %v", opts.Package, err)
		}
	}
	for i, n := range names {
		a, err := os.ReadFile(together[i].Output)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(apart[i].Output)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the binary built with the others differs from the one built alone", n)
		}
		got, err := exec.Command(together[i].Output).Output()
		if err != nil {
			t.Fatalf("running %s: %v", n, err)
		}
		if want := "hello " + n + "-1\n"; string(got) != want {
			t.Errorf("%s prints %q, want %q: each binary keeps its own ldflags", n, got, want)
		}
	}

	// Unchanged: nothing is built. One library change: all are again.
	fresh, err = gobuild.BuildMany(ctx, together, true)
	if err != nil {
		t.Fatalf("BuildMany again: %v", err)
	}
	for i, f := range fresh {
		if !f {
			t.Errorf("%s built again with nothing changed", names[i])
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "lib", "lib.go"), []byte("package lib\n\nfunc Greeting() string { return \"hi\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh, err = gobuild.BuildMany(ctx, together, true)
	if err != nil {
		t.Fatalf("BuildMany after a change: %v", err)
	}
	for i, f := range fresh {
		got, _ := exec.Command(together[i].Output).Output()
		if f || !strings.HasPrefix(string(got), "hi ") {
			t.Errorf("%s after the library changed: fresh %v, prints %q", names[i], f, got)
		}
	}
}

func TestBuildManyFailsForOneBadService(t *testing.T) {
	dir := services(t, "api", "worker")
	if err := os.WriteFile(filepath.Join(dir, "cmd", "worker", "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := gobuild.BuildMany(context.Background(), fleetOptions(t, dir, t.TempDir(), "api", "worker"), false)
	var ce *gobuild.CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("BuildMany = %v, want a *CompileError", err)
	}
	if !strings.Contains(ce.Output, "undefined: undefinedThing") || strings.Contains(ce.Output, "example.com/fleet/lib\n") {
		t.Errorf("CompileError.Output should hold the compiler's message and no package list:\n%s", ce.Output)
	}
	if !strings.Contains(ce.Package, "example.com/fleet/cmd/worker") {
		t.Errorf("CompileError.Package = %q, want it to name the services built", ce.Package)
	}
}

func TestBuildManySplitsSameNames(t *testing.T) {
	// Two packages named api cannot share go build -o DIR/.
	dir := moduletest.Write(t, map[string]string{
		"go.mod":           "module example.com/two\n\ngo 1.21\n",
		"a/api/main.go":    "package main\n\nfunc main() { println(\"a\") }\n",
		"b/api/v2/main.go": "package main\n\nfunc main() { println(\"b\") }\n",
	})
	p := hostPlatform(t)
	out := t.TempDir()
	var all []gobuild.Options
	for i, pkg := range []string{"a/api", "b/api/v2"} {
		d := filepath.Join(out, strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		all = append(all, gobuild.Options{Dir: dir, Package: "./" + pkg, ImportPath: "example.com/two/" + pkg,
			Platform: p, Env: buildEnv(), Output: filepath.Join(d, "api")})
	}
	if _, err := gobuild.BuildMany(context.Background(), all, false); err != nil {
		t.Fatalf("BuildMany: %v", err)
	}
	for i, want := range []string{"a", "b"} {
		var stderr bytes.Buffer
		cmd := exec.Command(all[i].Output)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || strings.TrimSpace(stderr.String()) != want {
			t.Errorf("%s printed %q (%v), want %q", all[i].Package, stderr.String(), err, want)
		}
	}
}

func TestProgressCountsPackagesCompiled(t *testing.T) {
	dir := services(t, "api")
	opts := fleetOptions(t, dir, t.TempDir(), "api")[0]
	// A cold build cache: the standard library is compiled too.
	opts.Env = append(opts.Env, "GOCACHE="+t.TempDir())
	var log bytes.Buffer
	// Live, for go list's total; the test reads the line as drawn.
	opts.Progress = &gobuild.Progress{W: &log, Live: true, Delay: time.Nanosecond, Every: time.Hour}
	if err := gobuild.Build(context.Background(), opts); err != nil {
		t.Fatalf("Build: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(log.String(), "\r\033[K", "\n")), "\n")
	lines = []string{lines[0], lines[len(lines)-1]}
	first := regexp.MustCompile(`^compiling example.com/fleet/cmd/api (\d+)/(\d+) packages$`)
	last := regexp.MustCompile(`^compiled example.com/fleet/cmd/api: (\d+) packages in [0-9.]+m?s$`)
	if len(lines) != 2 || !first.MatchString(lines[0]) || !last.MatchString(lines[1]) {
		t.Fatalf("progress lines:\n%s\nwant one plain line while compiling and one at the end", log.String())
	}
	total, _ := strconv.Atoi(first.FindStringSubmatch(lines[0])[2])
	done, _ := strconv.Atoi(last.FindStringSubmatch(lines[1])[1])
	// fmt and its dependencies, the library and the service.
	if total < 20 || done < 20 || done > total {
		t.Errorf("compiled %d packages of %d: want the cold build's dozens, no more than go list's total", done, total)
	}
	t.Logf("compiled %d of %d packages", done, total)
}

// TestProgressPerService: on a terminal, a build of several services shows
// each with the packages it needs, as go list -deps counts them for that
// service alone.
func TestProgressPerService(t *testing.T) {
	dir := services(t, "api")
	// worker needs less than api: os, not fmt, and no library.
	worker := "package main\n\nimport \"os\"\n\nvar version = \"unset\"\n\nfunc main() { os.Stdout.WriteString(version) }\n"
	if err := os.MkdirAll(filepath.Join(dir, "cmd", "worker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmd", "worker", "main.go"), []byte(worker), 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, n := range []string{"api", "worker"} {
		cmd := exec.Command("go", "list", "-deps", "./cmd/"+n)
		cmd.Dir, cmd.Env = dir, buildEnv()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		want[n] = strings.Count(string(out), "\n")
	}
	if want["worker"] >= want["api"] {
		t.Fatalf("go list: worker needs %d packages, api %d; the test wants worker to need fewer", want["worker"], want["api"])
	}

	all := fleetOptions(t, dir, t.TempDir(), "api", "worker")
	var log bytes.Buffer
	progress := &gobuild.Progress{W: &log, Live: true, Delay: time.Nanosecond, Every: time.Hour}
	// A cold build cache: the standard library is compiled too.
	cache := "GOCACHE=" + t.TempDir()
	for i := range all {
		all[i].Env = append(all[i].Env, cache)
		all[i].Progress = progress
	}
	if _, err := gobuild.BuildMany(context.Background(), all, true); err != nil {
		t.Fatalf("BuildMany: %v", err)
	}
	var live []string
	for _, l := range strings.Split(strings.ReplaceAll(log.String(), "\r\033[K", "\n"), "\n") {
		if strings.HasPrefix(l, "compiling ") {
			live = append(live, l)
		}
	}
	line := regexp.MustCompile(`^compiling api (\d+)/(\d+), worker (\d+)/(\d+) packages$`)
	if len(live) == 0 || !line.MatchString(live[0]) || !line.MatchString(live[len(live)-1]) {
		t.Fatalf("progress:\n%q\nwant lines naming each service with its packages", log.String())
	}
	first, last := line.FindStringSubmatch(live[0]), line.FindStringSubmatch(live[len(live)-1])
	if first[2] != strconv.Itoa(want["api"]) || first[4] != strconv.Itoa(want["worker"]) {
		t.Errorf("totals api %s, worker %s; go list -deps counts %d and %d", first[2], first[4], want["api"], want["worker"])
	}
	apiDone, _ := strconv.Atoi(last[1])
	workerDone, _ := strconv.Atoi(last[3])
	if apiDone > want["api"] || workerDone > want["worker"] || workerDone >= apiDone || workerDone == 0 {
		t.Errorf("last line %q: want worker, which needs less, to count fewer than api, and neither more than it needs", live[len(live)-1])
	}
}

// TestBuildManyReusesIntactBinaries checks that a change that leaves the
// binaries as they were (a comment) relinks nothing: go build finds the
// binaries builder left in place current. A binary that is not what its
// stamp recorded is never left for go build to keep.
func TestBuildManyReusesIntactBinaries(t *testing.T) {
	names := []string{"api", "worker"}
	dir := services(t, names...)
	ctx := context.Background()
	all := fleetOptions(t, dir, t.TempDir(), names...)
	if _, err := gobuild.BuildMany(ctx, all, true); err != nil {
		t.Fatalf("BuildMany: %v", err)
	}
	before := make([]os.FileInfo, len(all))
	for i, o := range all {
		var err error
		if before[i], err = os.Stat(o.Output); err != nil {
			t.Fatal(err)
		}
	}
	lib := filepath.Join(dir, "lib", "lib.go")
	appendLine := func(line string) {
		t.Helper()
		f, err := os.OpenFile(lib, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	appendLine("\n// a comment\n")
	fresh, err := gobuild.BuildMany(ctx, all, true)
	if err != nil {
		t.Fatalf("BuildMany after a comment: %v", err)
	}
	for i, o := range all {
		after, err := os.Stat(o.Output)
		if err != nil {
			t.Fatal(err)
		}
		// A relinked binary is a new file.
		if fresh[i] || !os.SameFile(before[i], after) {
			t.Errorf("%s after a comment: fresh %v, same file %v: want go build run, and the binary kept", names[i], fresh[i], os.SameFile(before[i], after))
		}
	}

	// Tamper with one binary, keeping its build ID: it is built again.
	want, err := os.ReadFile(all[0].Output)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(want)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(all[0].Output, bad, 0o755); err != nil {
		t.Fatal(err)
	}
	appendLine("\n// another comment\n")
	if _, err := gobuild.BuildMany(ctx, all, true); err != nil {
		t.Fatalf("BuildMany after tampering: %v", err)
	}
	if got, _ := os.ReadFile(all[0].Output); !bytes.Equal(got, want) {
		t.Errorf("a tampered binary was kept by go build")
	}
}

// TestBuildManySpecialFiles: a FIFO where a binary or its stamp belongs
// is not read (it would block the build) but replaced by the binary.
func TestBuildManySpecialFiles(t *testing.T) {
	for _, at := range []string{"binary", "stamp"} {
		t.Run(at, func(t *testing.T) {
			t.Parallel()
			dir := services(t, "api")
			all := fleetOptions(t, dir, t.TempDir(), "api")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := gobuild.BuildMany(ctx, all, true); err != nil {
				t.Fatalf("BuildMany: %v", err)
			}
			want, err := os.ReadFile(all[0].Output)
			if err != nil {
				t.Fatal(err)
			}
			fifo := all[0].Output
			if at == "stamp" {
				fifo += ".fingerprint"
			}
			if err := os.Remove(fifo); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := gobuild.BuildMany(ctx, all, true); err != nil {
				t.Fatalf("BuildMany with a FIFO for the %s: %v", at, err)
			}
			if got, err := os.ReadFile(all[0].Output); err != nil || !bytes.Equal(got, want) {
				t.Errorf("after a FIFO for the %s, the binary is not the one built before (%v)", at, err)
			}
		})
	}
}

// TestBuildEachHandsOverLinkedBinaries: a binary is handed over, in place
// and whole, as soon as go build puts it there, while go build still links
// another. The link of "slow" waits (through -toolexec) until "fast" has
// been handed over; it gives up after 30 s, and the test fails, if it is
// handed over only when go build ends.
func TestBuildEachHandsOverLinkedBinaries(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("binaries are handed over early where the system reports file events (Linux)")
	}
	names := []string{"fast", "slow"}
	dir := services(t, names...)
	work := t.TempDir()
	marker, log := filepath.Join(work, "fast-done"), filepath.Join(work, "slow-link")
	script := filepath.Join(work, "toolexec")
	// The linker gets -X main.version=slow-1 for slow only.
	body := `#!/bin/sh
case "$1" in */link) case "$*" in *version=slow-1*)
	i=0
	while [ ! -e ` + marker + ` ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
	if [ -e ` + marker + ` ]; then echo waited > ` + log + `; else echo "gave up" > ` + log + `; fi
esac; esac
exec "$@"
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	all := fleetOptions(t, dir, t.TempDir(), names...)
	for i := range all {
		// -p 2: the two links may run at once on any machine.
		all[i].Flags = []string{"-toolexec=" + script, "-p=2"}
	}
	var mu sync.Mutex
	handed := map[string][]byte{}
	_, err := gobuild.BuildEach(context.Background(), all, true, func(i int) {
		data, err := os.ReadFile(all[i].Output)
		if err != nil {
			t.Errorf("%s handed over without its binary: %v", names[i], err)
		}
		mu.Lock()
		defer mu.Unlock()
		if _, twice := handed[names[i]]; twice {
			t.Errorf("%s handed over twice", names[i])
		}
		handed[names[i]] = data
		if names[i] == "fast" {
			if err := os.WriteFile(marker, nil, 0o644); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil {
		t.Fatalf("BuildEach: %v", err)
	}
	if got, err := os.ReadFile(log); err != nil || string(got) != "waited\n" {
		t.Errorf("the link of slow: %q, %v; want it to start only once fast was handed over", got, err)
	}
	for i, o := range all {
		final, err := os.ReadFile(o.Output)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(handed[names[i]], final) {
			t.Errorf("%s: the binary handed over (%d bytes) is not the one left in place (%d bytes)", names[i], len(handed[names[i]]), len(final))
		}
		if err := gobuild.CheckStatic(o.Output); err != nil {
			t.Error(err)
		}
	}
}
