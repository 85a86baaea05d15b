package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sample is one timed run of a tool.
type sample struct {
	took     time.Duration
	uploaded int64   // layer and config bytes the registry received
	rss      float64 // builder's own peak RSS in MB, when it reports one
	ref      string  // what was pushed, REPO@DIGEST, when known
	// cpu is the user and system time of the process and of the
	// processes it waited for (the compiler, the linker).
	cpu time.Duration
	// own is builder's own user and system time, the compiler's not
	// counted, and children its children's (go build, git), when it
	// reports them.
	own, children time.Duration
	// registry is the CPU time the bench's own registries used while the
	// tool ran: on the same cores, as a registry far away would not.
	registry time.Duration
}

// tool is one way of doing a scenario.
type tool struct {
	name string
	run  func(ctx context.Context, i int) (sample, error)
}

// scenario is a measured situation: each tool runs it, interleaved.
type scenario struct {
	name   string
	change bool // make a one-line change before each run
	tools  []tool
	// edit, when set, makes the change instead of the app's one line.
	edit func() error
	// runs, when set, overrides the measured runs; cold scenarios need
	// no warm-up run.
	runs int
	cold bool
}

// measured holds every sample of a scenario, by tool name.
type measured struct {
	scenario string
	samples  map[string][]sample
	order    []string
}

func (e *env) scenarios(ctx context.Context, runs int) ([]measured, error) {
	var out []measured
	for _, sc := range e.plan() {
		if !e.only.MatchString(sc.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s\n", sc.name)
		m := measured{scenario: sc.name, samples: map[string][]sample{}}
		for _, t := range sc.tools {
			m.order = append(m.order, t.name)
		}
		n, first := runs, -1 // run -1 warms the caches up
		if sc.runs > 0 {
			n = sc.runs
		}
		if sc.cold {
			first = 0
		}
		// Round i runs the tools in the i-th of their orders, every one in
		// turn (the warm-up round in the order given), so that within a
		// round each tool runs just after each other as often: a tool is
		// timed in what the one before left (dirty pages to write back,
		// warm caches, a busy or idle CPU).
		orders := permutations(len(sc.tools))
		for i := first; i < n; i++ {
			for _, k := range orders[(i+1)%len(orders)] {
				t := sc.tools[k]
				if sc.change {
					edit := e.change
					if sc.edit != nil {
						edit = sc.edit
					}
					if err := edit(); err != nil {
						return nil, err
					}
				}
				s, err := t.run(ctx, e.edits)
				if err != nil {
					return nil, fmt.Errorf("%s, %s: %w", sc.name, t.name, err)
				}
				if i >= 0 {
					m.samples[t.name] = append(m.samples[t.name], s)
				}
			}
		}
		out = append(out, m)
	}
	return out, nil
}

const (
	toolBuilder = "builder"
	toolKo      = "ko"
	toolGo      = "go build"
	onePlatform = "linux/amd64"
	twoPlatform = "linux/amd64,linux/arm64"
	twoScenario = "two platforms after a change"
	toolOne     = "builder, one platform"
	// onePlatformLine is the minor version of builder's one-platform
	// publishes in the two-platform scenario.
	onePlatformLine = 3
)

func (e *env) plan() []scenario {
	return append([]scenario{
		{name: "one-line change + publish", change: true, tools: []tool{
			{toolBuilder, e.builderPublish(onePlatform, false)},
			{toolKo, e.koBuild(onePlatform, "")},
			{toolGo, e.goBuild(true)},
		}},
		{name: "no-change publish", tools: []tool{
			{toolBuilder, e.builderPublish(onePlatform, true)},
			{toolKo, e.koBuild(onePlatform, "")},
			{toolGo, e.goBuild(false)},
		}},
		// builder on one platform runs in the same rounds, on a line of
		// versions of its own, so that two platforms are weighed against
		// one measured beside them, not minutes before.
		{name: twoScenario, change: true, tools: []tool{
			{toolBuilder, e.builderPublish(twoPlatform, false)},
			{toolKo, e.koBuild(twoPlatform, "")},
			{toolOne, e.publishLine(onePlatformLine, onePlatform, false)},
		}},
		{name: "tarball after a change", change: true, tools: []tool{
			{toolBuilder, e.builderTarball()},
			{toolKo, e.koBuild(onePlatform, filepath.Join(e.work, "ko.tar"))},
		}},
		{name: bigBinary, change: true, tools: []tool{
			{toolBuilder, e.builderBig()},
		}},
		{name: probeScenario, change: true, tools: []tool{
			{toolBuilder, e.builderPublish(onePlatform, false, "--healthcheck", "cmd:healthcheck")},
			{toolProbe, e.builderPublish(onePlatform, false, "--healthcheck", "http:/healthz")},
		}},
		// Alone: two tools publishing two versions of one package would
		// each find the other's binary in its place (its version is in
		// the ldflags), and compile every time.
		{name: probeNoChange, tools: []tool{
			{toolProbe, e.builderPublish(onePlatform, true, "--healthcheck", "http:/healthz")},
		}},
	}, e.scalePlan()...)
}

// The probe scenarios measure what builder's HTTP healthcheck probe adds to
// a build: the app with its own healthcheck command, and with the probe.
const (
	probeScenario = "change + publish, HTTP probe or not"
	probeNoChange = "no-change publish, HTTP probe"
	toolProbe     = "builder, HTTP probe"
)

// bigBinary builds the app with MessagePack support, a 17 MB binary, to
// measure builder's memory on a binary of that size.
const bigBinary = "17 MB binary, change + publish"

func (e *env) builderBig() func(context.Context, int) (sample, error) {
	version := 0
	return func(ctx context.Context, i int) (sample, error) {
		version++
		ko, err := os.ReadFile(filepath.Join(e.root, ".ko.yaml"))
		if err != nil {
			return sample{}, err
		}
		cfg := filepath.Join(e.work, "ko-big.yaml")
		big := strings.Replace(string(ko), "  - -tags=nomsgpack\n", "", 1)
		if err := os.WriteFile(cfg, []byte(big), 0o644); err != nil {
			return sample{}, err
		}
		return e.timedEnv(ctx, []string{"KO_CONFIG_PATH=" + cfg}, "builder", e.builder, "publish", "./app",
			"--tag", fmt.Sprintf("v0.17.%d", version), "--repo", e.host+"/builder", "--base", e.base,
			"--platform", onePlatform, "--allow-dirty")
	}
}

// builderPublish publishes a new version each run, or the last one again
// when same is set.
func (e *env) builderPublish(platform string, same bool, flags ...string) func(context.Context, int) (sample, error) {
	// Each kind of run publishes its own line of versions.
	minor := strings.Count(platform, ",") + 1
	for _, f := range flags {
		minor = minor*31 + len(f) + int(f[len(f)-1])
	}
	return e.publishLine(minor, platform, same, flags...)
}

// publishLine publishes the app for platform, its versions v0.minor.N (one
// version, v0.9.minor, when same).
func (e *env) publishLine(minor int, platform string, same bool, flags ...string) func(context.Context, int) (sample, error) {
	version := 0
	return func(ctx context.Context, i int) (sample, error) {
		if !same || version == 0 {
			version++
		}
		tag := fmt.Sprintf("v0.%d.%d", minor, version)
		if same {
			tag = fmt.Sprintf("v0.9.%d", minor)
		}
		args := append([]string{"publish", "./app", "--tag", tag,
			"--repo", e.host + "/builder", "--base", e.base, "--platform", platform, "--allow-dirty"}, flags...)
		return e.timed(ctx, "builder", e.builder, args...)
	}
}

func (e *env) builderTarball() func(context.Context, int) (sample, error) {
	return func(ctx context.Context, i int) (sample, error) {
		return e.timed(ctx, "", e.builder, "build", "./app", "--tag", "bench", "--base", e.base,
			"--platform", onePlatform, "--tarball", filepath.Join(e.work, "builder.tar"))
	}
}

// koBuild runs ko with its build cache, pushing, or writing tarball.
func (e *env) koBuild(platform, tarball string) func(context.Context, int) (sample, error) {
	return func(ctx context.Context, i int) (sample, error) {
		args := []string{"build", "./app", "--bare", "--platform", platform}
		if tarball != "" {
			args = append(args, "--push=false", "--tarball", tarball)
		}
		return e.timed(ctx, "ko", e.ko, args...)
	}
}

// goBuild is the bare go build of the app, with the version in its
// ldflags as builder's: a new one each run when versioned (as a publish of
// a new release links one in), else the same.
func (e *env) goBuild(versioned bool) func(context.Context, int) (sample, error) {
	n := 0
	return func(ctx context.Context, i int) (sample, error) {
		version := "bench"
		if versioned {
			n++
			version = fmt.Sprintf("v0.0.%d", n)
		}
		return e.timed(ctx, "", "go", goBuildArgs(version, filepath.Join(e.work, "gobuild", "app"), "./app")...)
	}
}

// goBuildArgs are the arguments of the bare go build of pkg to out, with
// main.version set to version: the flags the app's .ko.yaml gives, and
// -buildvcs=false as builder's own go build has (builder reads git itself
// and sets the version through ldflags), so that the bare go build does
// not run git where builder's does not.
func goBuildArgs(version, out, pkg string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-tags=nomsgpack", "-ldflags=-s -w -X main.version=" + version, "-o", out, pkg}
}

var (
	rssLine      = regexp.MustCompile(`trace: peak RSS ([0-9.]+) MB`)
	ownLine      = regexp.MustCompile(`trace: own CPU ([0-9]+) ms`)
	childrenLine = regexp.MustCompile(`trace: children's CPU ([0-9]+) ms`)
	refLine      = regexp.MustCompile(`(?m)^(\S+@sha256:[0-9a-f]{64})$`)
	tagLine      = regexp.MustCompile(`(?m)^(\S+):\S+@(sha256:[0-9a-f]{64})$`)
)

// timed runs a tool from the repository's root and times it; repo is the
// registry path whose uploads are counted ("" for none).
func (e *env) timed(ctx context.Context, repo, name string, args ...string) (sample, error) {
	return e.timedEnv(ctx, nil, repo, name, args...)
}

func (e *env) timedEnv(ctx context.Context, extra []string, repo, name string, args ...string) (sample, error) {
	return e.timedIn(ctx, e.root, extra, repo, name, args...)
}

// timedIn runs a tool in dir and times it; extra settings override the
// shared ones (a later duplicate key wins).
func (e *env) timedIn(ctx context.Context, dir string, extra []string, repo, name string, args ...string) (sample, error) {
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "BUILDER_TRACE=1",
		"BUILDER_CACHE="+filepath.Join(e.work, "builder-cache"),
		"KO_DOCKER_REPO="+e.host+"/ko", "KO_DEFAULTBASEIMAGE="+e.base,
		"KOCACHE="+filepath.Join(e.work, "ko-cache"))
	c.Env = append(c.Env, extra...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	e.counter.reset()
	before := selfCPU()
	start := time.Now()
	err := c.Run()
	s := sample{took: time.Since(start), uploaded: e.counter.bytes(repo)}
	s.registry = selfCPU() - before
	if c.ProcessState != nil {
		s.cpu = c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	if err != nil {
		return sample{}, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	if m := rssLine.FindStringSubmatch(stderr.String()); m != nil {
		s.rss, _ = strconv.ParseFloat(m[1], 64)
		if s.rss > 64 && os.Getenv("BENCH_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "DEBUG %s %v\n%s\n", name, args, stderr.String())
		}
	}
	if os.Getenv("BENCH_TRACE") != "" {
		// What the tool says of its phases, to find where a run's time goes.
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.HasPrefix(line, "trace: ") {
				fmt.Fprintf(os.Stderr, "%s %s\n", name, line)
			}
		}
		fmt.Fprintf(os.Stderr, "%s took %s, the bench's registry %d ms CPU meanwhile\n", name, s.took, s.registry.Milliseconds())
	}
	if m := ownLine.FindStringSubmatch(stderr.String()); m != nil {
		ms, _ := strconv.Atoi(m[1])
		s.own = time.Duration(ms) * time.Millisecond
	}
	if m := childrenLine.FindStringSubmatch(stderr.String()); m != nil {
		ms, _ := strconv.Atoi(m[1])
		s.children = time.Duration(ms) * time.Millisecond
	}
	if m := refLine.FindStringSubmatch(stdout.String()); m != nil {
		s.ref = m[1]
	} else if m := tagLine.FindStringSubmatch(stdout.String()); m != nil {
		s.ref = m[1] + "@" + m[2]
	}
	return s, nil
}

// permutations lists every order of n items, the identity first.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{nil}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		// Put n-1 at each place of each order of the first n-1.
		for at := len(p); at >= 0; at-- {
			q := append(append(append([]int(nil), p[:at]...), n-1), p[at:]...)
			out = append(out, q)
		}
	}
	return out
}

// selfCPU is the CPU time the bench process has used: its registries'
// work, while a tool runs.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
