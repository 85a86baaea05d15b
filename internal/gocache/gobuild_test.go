package gocache

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
)

// TestMain doubles as builder's hidden subcommand: the go command of the
// real-build tests runs this test binary as its GOCACHEPROG, with the
// arguments Command gives.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "gocacheprog" {
		os.Exit(serveMain(os.Args[2:]))
	}
	var err error
	if testTemp, err = os.MkdirTemp("", "gocache-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(testTemp)
	os.Exit(code)
}

// testTemp holds what tests share, for the test binary's run.
var testTemp string

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func serveMain(args []string) int {
	fs := flag.NewFlagSet("gocacheprog", flag.ContinueOnError)
	dir := fs.String("dir", "", "")
	repo := fs.String("repo", "", "")
	var insecure stringList
	fs.Var(&insecure, "insecure-registry", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	s := Store{Dir: *dir, Repo: *repo, Registry: registry.Client{Keychain: registrytest.Anonymous, Insecure: insecure}}
	if err := s.Serve(context.Background(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gocacheprog:", err)
		return 1
	}
	return 0
}

// Modules the real builds compile, stdlib only.
var (
	webModule = map[string]string{
		"go.mod": "module example.com/web\n\ngo 1.24\n",
		"main.go": `package main

import (
	"encoding/json"
	"net/http"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "pong"})
	})
	_ = http.ListenAndServe(":8080", nil)
}
`,
	}
	smallModule = map[string]string{
		"go.mod":  "module example.com/small\n\ngo 1.24\n",
		"main.go": "package main\n\nimport \"errors\"\n\nfunc main() { panic(errors.New(\"small\")) }\n",
	}
)

// writeModule writes files into a new directory whose path has a space.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "my module")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// build is one real go build's outcome.
type build struct {
	compiled []string // packages go build -v listed
	took     time.Duration
	binary   []byte
}

// goBuild runs go build -v of the module in dir with s as its cache, in an
// environment of its own, and fails the test when it fails.
func goBuild(t *testing.T, dir string, s Store) build {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	out := filepath.Join(tmp, "bin")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GO") && !strings.HasPrefix(kv, "CGO_") {
			env = append(env, kv)
		}
	}
	prog, err := Command(exe, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	env = append(env, "GOENV=off", "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local", "GOPROXY=off", "CGO_ENABLED=0",
		"GOCACHE="+filepath.Join(tmp, "gocache"), "GOCACHEPROG="+prog)
	cmd := exec.Command("go", "build", "-v", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v\n%s", err, stderr.String())
	}
	b := build{took: time.Since(start)}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			b.compiled = append(b.compiled, line)
		}
	}
	if b.binary, err = os.ReadFile(out); err != nil {
		t.Fatal(err)
	}
	return b
}

// localDir is a new, empty local cache directory, with a space.
func localDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "local cache")
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("compiles the standard library with a real go build")
	}
}

// TestGoBuildSharesThroughRepo: runner 1 builds with an empty local cache
// and uploads; runner 2, with another empty local cache and the same Repo,
// compiles (almost) nothing and links the same binary.
func TestGoBuildSharesThroughRepo(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := registrytest.New(t, registrytest.Config{})
	dir := writeModule(t, webModule)
	repo := r.Host + "/cache/go"

	s1 := Store{Dir: localDir(t), Repo: repo}
	b1 := goBuild(t, dir, s1)
	start := time.Now()
	stats, err := Store{Dir: s1.Dir, Repo: repo, Registry: registry.Client{Keychain: registrytest.Anonymous}}.Upload(context.Background())
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	took := time.Since(start)
	s2 := Store{Dir: localDir(t), Repo: repo}
	b2 := goBuild(t, dir, s2)

	t.Logf("runner 1: %d packages compiled in %v; uploaded %d entries, %.1f MB, in %v", len(b1.compiled), b1.took.Round(time.Millisecond), stats.Entries, float64(stats.Bytes)/1e6, took.Round(time.Millisecond))
	t.Logf("runner 2: %d packages compiled in %v: %q", len(b2.compiled), b2.took.Round(time.Millisecond), b2.compiled)
	if len(b1.compiled) < 20 || len(b2.compiled) > len(b1.compiled)/10 {
		t.Errorf("runner 2 compiled %d packages, runner 1 %d: want far fewer", len(b2.compiled), len(b1.compiled))
	}
	if !bytes.Equal(b1.binary, b2.binary) {
		t.Errorf("the runners' binaries differ")
	}
	for _, s := range []Store{s1, s2} {
		if notes := s.TakeNotes(); len(notes) != 0 {
			t.Errorf("notes: %q", notes)
		}
	}
}

// TestGoBuildPrefetch: runner 1 builds and uploads with Index set; runner
// 2, on empty local caches, builds without Prefetch, after it, and while
// it runs (as the pipeline does), each time compiling nothing and linking
// the same binary. Then, with the entries' tags rotated (every entry of
// another action, the index whole), a Prefetch fetches nothing wrong and
// the build compiles what it must.
func TestGoBuildPrefetch(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := registrytest.New(t, registrytest.Config{})
	dir := writeModule(t, webModule)
	repo := r.Host + "/cache/go"
	store := func() Store {
		return Store{Dir: localDir(t), Repo: repo, Registry: registry.Client{Keychain: registrytest.Anonymous}, Index: "web linux/amd64"}
	}
	ctx := context.Background()

	s1 := store()
	b1 := goBuild(t, dir, s1)
	up, err := s1.Upload(ctx)
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	t.Logf("runner 1: %d packages compiled in %v; uploaded %d entries, %.1f MB; index of %d actions", len(b1.compiled), b1.took.Round(time.Millisecond), up.Entries, float64(up.Bytes)/1e6, up.Indexed)
	if up.Indexed < up.Entries/2 {
		t.Errorf("Upload indexed %d actions of %d entries", up.Indexed, up.Entries)
	}
	check := func(who string, b build, s Store) {
		t.Helper()
		if len(b.compiled) != 0 || !bytes.Equal(b.binary, b1.binary) {
			t.Errorf("%s compiled %q; same binary: %v", who, b.compiled, bytes.Equal(b.binary, b1.binary))
		}
		if notes := s.TakeNotes(); len(notes) != 0 {
			t.Errorf("%s: notes %q", who, notes)
		}
	}

	s2 := store()
	b2 := goBuild(t, dir, s2)
	check("runner 2 without Prefetch", b2, s2)

	s3 := store()
	pf, err := s3.Prefetch(ctx)
	if err != nil {
		t.Fatalf("Prefetch: %v", err)
	}
	b3 := goBuild(t, dir, s3)
	check("runner 2 after Prefetch", b3, s3)
	if pf.Entries < up.Indexed*9/10 {
		t.Errorf("Prefetch fetched %d entries of an index of %d", pf.Entries, up.Indexed)
	}

	s4 := store()
	var pf4 PrefetchStats
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		var err error
		pf4, err = s4.Prefetch(ctx)
		done <- err
	}()
	b4 := goBuild(t, dir, s4)
	if err := <-done; err != nil {
		t.Fatalf("Prefetch: %v", err)
	}
	both := time.Since(start)
	check("runner 2 building while Prefetch runs", b4, s4)

	t.Logf("runner 2, go build without Prefetch: %v", b2.took.Round(time.Millisecond))
	t.Logf("runner 2, Prefetch (%d entries, %.1f MB) in %v, then go build in %v: %v in all", pf.Entries, float64(pf.Bytes)/1e6, pf.Took.Round(time.Millisecond), b3.took.Round(time.Millisecond), (pf.Took + b3.took).Round(time.Millisecond))
	t.Logf("runner 2, go build in %v while Prefetch (%d entries, %.1f MB) ran in %v: %v in all", b4.took.Round(time.Millisecond), pf4.Entries, float64(pf4.Bytes)/1e6, pf4.Took.Round(time.Millisecond), both.Round(time.Millisecond))

	// Every entry's tag on another action's manifest: Prefetch and the
	// build's gets find only entries of other actions, and skip them.
	rotateTags(t, r)
	s5 := store()
	pf5, err := s5.Prefetch(ctx)
	if err != nil || pf5.Entries != 0 {
		t.Errorf("Prefetch of rotated entries = %+v, %v; want nothing", pf5, err)
	}
	b5 := goBuild(t, dir, s5)
	if len(b5.compiled) != len(b1.compiled) || !bytes.Equal(b5.binary, b1.binary) {
		t.Errorf("with rotated entries, compiled %d packages (want %d); same binary: %v", len(b5.compiled), len(b1.compiled), bytes.Equal(b5.binary, b1.binary))
	}
	if notes := s5.TakeNotes(); len(notes) != 0 {
		t.Errorf("notes: %q", notes)
	}
}
