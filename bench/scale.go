package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The scale scenarios: a cold build, a fresh CI runner that shares a Go
// build cache through the registry, and eight services at once.
const (
	coldScenario   = "cold: empty Go build and tool caches, publish"
	sharedScenario = "fresh runner with the shared cache, one-line change + publish"
	fleetScenario  = "eight services after a one-line change in their library"
	farScenario    = "eight services after a library change, to a registry 20 ms and 100 Mbit/s away"
	toolFresh      = "builder, fresh runner, --cache-repo"
	toolWarm       = "builder, warm"
	fleetServices  = 8
)

func (e *env) scalePlan() []scenario {
	return []scenario{
		{name: coldScenario, cold: true, runs: e.coldRuns, tools: []tool{
			{toolBuilder, e.cold(func(ctx context.Context, fresh string, i int) (sample, error) {
				return e.timedEnv(ctx, []string{"GOCACHE=" + filepath.Join(fresh, "go-build"), "BUILDER_CACHE=" + filepath.Join(fresh, "builder")},
					"builder", e.builder, "publish", "./app", "--tag", fmt.Sprintf("v0.40.%d", i), "--repo", e.host+"/builder",
					"--base", e.base, "--platform", onePlatform, "--allow-dirty")
			})},
			{toolKo, e.cold(func(ctx context.Context, fresh string, i int) (sample, error) {
				return e.timedEnv(ctx, []string{"GOCACHE=" + filepath.Join(fresh, "go-build"), "KOCACHE=" + filepath.Join(fresh, "ko")},
					"ko", e.ko, "build", "./app", "--bare", "--platform", onePlatform)
			})},
			{toolGo, e.cold(func(ctx context.Context, fresh string, i int) (sample, error) {
				return e.timedEnv(ctx, []string{"GOCACHE=" + filepath.Join(fresh, "go-build")}, "", "go",
					goBuildArgs("bench", filepath.Join(fresh, "app"), "./app")...)
			})},
		}},
		// The warm-up run fills the shared cache, as the first runner of a
		// CI system would; each measured run is then a new, empty runner.
		{name: sharedScenario, change: true, tools: []tool{
			{toolWarm, e.warmPublish()},
			{toolFresh, e.freshRunner()},
		}},
		{name: fleetScenario, change: true, edit: e.changeLib, tools: []tool{
			{toolBuilder, e.fleetBuilder()},
			{toolKo, e.fleetKo(e.host, "ko")},
			{toolGo, func(ctx context.Context, i int) (sample, error) {
				return e.timedIn(ctx, e.fleet, nil, "", "go", goBuildArgs("bench", filepath.Join(e.work, "fleet-bin")+"/", "./cmd/...")...)
			}},
		}},
		// Where a push waits for the network, not the CPU: a CI runner
		// and a registry in another region.
		{name: farScenario, change: true, edit: e.changeLib, tools: []tool{
			{toolBuilder, e.fleetBuilderTo(e.far, "far/fleet", 51)},
			{toolKo, e.fleetKo(e.far, "far/ko")},
		}},
	}
}

// cold runs run with a new, empty directory for the caches it names, and
// removes it after.
func (e *env) cold(run func(ctx context.Context, fresh string, i int) (sample, error)) func(context.Context, int) (sample, error) {
	n := 0
	return func(ctx context.Context, _ int) (sample, error) {
		n++
		fresh, err := os.MkdirTemp(e.work, "cold-")
		if err != nil {
			return sample{}, err
		}
		defer removeAll(fresh)
		return run(ctx, fresh, n)
	}
}

// freshRunner publishes from an empty home, Go build cache and builder
// cache, with the module cache already filled (as CI restores it) and the
// shared Go build cache in the bench registry.
func (e *env) freshRunner() func(context.Context, int) (sample, error) {
	version := 0
	return e.cold(func(ctx context.Context, fresh string, _ int) (sample, error) {
		version++
		return e.timedEnv(ctx, []string{"HOME=" + fresh, "GOCACHE=" + filepath.Join(fresh, "go-build"),
			"BUILDER_CACHE=" + filepath.Join(fresh, "builder"), "GOMODCACHE=" + e.goModCache, "XDG_CONFIG_HOME=", "XDG_CACHE_HOME="},
			"builder", e.builder, "publish", "./app", "--tag", fmt.Sprintf("v0.41.%d", version), "--repo", e.host+"/builder",
			"--base", e.base, "--platform", onePlatform, "--allow-dirty", "--cache-repo", e.host+"/cache/go")
	})
}

// warmPublish is builder on this machine, its caches warm, publishing
// its own line of versions.
func (e *env) warmPublish() func(context.Context, int) (sample, error) {
	version := 0
	return func(ctx context.Context, _ int) (sample, error) {
		version++
		return e.timed(ctx, "builder", e.builder, "publish", "./app", "--tag", fmt.Sprintf("v0.42.%d", version),
			"--repo", e.host+"/builder", "--base", e.base, "--platform", onePlatform, "--allow-dirty")
	}
}

func (e *env) fleetBuilder() func(context.Context, int) (sample, error) {
	return e.fleetBuilderTo(e.host, "fleet", 50)
}

// fleetBuilderTo publishes the fleet to host/repo, its versions v0.minor.N.
func (e *env) fleetBuilderTo(host, repo string, minor int) func(context.Context, int) (sample, error) {
	version := 0
	return func(ctx context.Context, i int) (sample, error) {
		version++
		return e.timedIn(ctx, e.fleet, nil, repo, e.builder, "publish", "./cmd/...", "--tag", fmt.Sprintf("v0.%d.%d", minor, version),
			"--repo", host+"/"+repo, "--base", e.base, "--platform", onePlatform, "--allow-dirty")
	}
}

// fleetKo builds the eight services with ko, to host.
func (e *env) fleetKo(host, repo string) func(context.Context, int) (sample, error) {
	return func(ctx context.Context, i int) (sample, error) {
		// ko takes no pattern: it is given the eight paths.
		args := []string{"build", "--platform", onePlatform}
		for n := 1; n <= fleetServices; n++ {
			args = append(args, fmt.Sprintf("./cmd/svc%d", n))
		}
		return e.timedIn(ctx, e.fleet, []string{"KO_DOCKER_REPO=" + host + "/" + repo}, repo, e.ko, args...)
	}
}

// writeFleet writes eight copies of the app, cmd/svc1…cmd/svc8, in a
// module of their own that requires what the repository's does, each
// using one library package, lib, and a .ko.yaml with the app's build
// settings for each.
func (e *env) writeFleet() error {
	e.fleet = filepath.Join(e.work, "fleet")
	mod, err := os.ReadFile(filepath.Join(e.root, "go.mod"))
	if err != nil {
		return err
	}
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module example.com/fleet"))
	files := map[string][]byte{"go.mod": mod, "lib/lib.go": libSource(e.run, 0)}
	if files["go.sum"], err = os.ReadFile(filepath.Join(e.root, "go.sum")); err != nil {
		return err
	}
	app, err := filepath.Glob(filepath.Join(e.root, "app", "*.go"))
	if err != nil {
		return err
	}
	var ko strings.Builder
	ko.WriteString("builds:\n")
	for n := 1; n <= fleetServices; n++ {
		svc := fmt.Sprintf("svc%d", n)
		for _, f := range app {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			files["cmd/"+svc+"/"+filepath.Base(f)] = data
		}
		files["cmd/"+svc+"/fleet.go"] = []byte("package main\n\nimport \"example.com/fleet/lib\"\n\nvar edit = lib.Edit\n\nfunc init() { _ = edit() }\n")
		fmt.Fprintf(&ko, `- id: %s
  main: ./cmd/%s
  env: [CGO_ENABLED=0]
  flags: [-trimpath, -tags=nomsgpack]
  ldflags: [-s -w, -X main.version=bench]
  builder:
    ports: ["8080"]
    env: [PORT=8080, GIN_MODE=release]
    healthcheck: {command: [healthcheck]}
`, svc, svc)
	}
	files[".ko.yaml"] = []byte(ko.String())
	return writeFiles(e.fleet, files)
}

// writeFiles writes each file of files, by its slash-separated path under
// root, making the directories it needs.
func writeFiles(root string, files map[string][]byte) error {
	for p, data := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// libSource is the fleet's library after n edits in the bench run named
// run: a function whose body, which its callers inline, is new to each.
func libSource(run string, n int) []byte {
	return fmt.Appendf(nil, "package lib\n\n// Edit is what the bench changes, one line a run.\nfunc Edit() string { return \"%s %d\" }\n", run, n)
}

// changeLib changes one line of the fleet's library: a function's body,
// which every service links.
func (e *env) changeLib() error {
	e.libEdits++
	return os.WriteFile(filepath.Join(e.fleet, "lib", "lib.go"), libSource(e.run, e.libEdits), 0o644)
}

func removeAll(dir string) {
	// The Go build cache is read-only for its owner's safety: make it
	// writable first.
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "bench: removing %s: %v\n", dir, err)
	}
}
