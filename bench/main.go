// Command bench measures builder against ko and a bare go build, side by
// side in one run, on this repository's app: a one-line change then a
// publish, a publish with no change, two platforms, a tarball export,
// builder's own peak memory, and image sizes. It starts an in-process
// registry on loopback, pushes builder's built-in base there for both tools,
// and restores every file it edits. Run it with `make bench`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
)

func main() {
	runs := flag.Int("runs", 5, "measured runs per scenario and tool")
	coldRuns := flag.Int("cold-runs", 3, "measured runs of the cold scenario (each a minute or so per tool)")
	only := flag.String("only", ".", "run only the scenarios whose name matches this regular expression")
	flag.Parse()
	re, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: -only: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *runs, re, *coldRuns); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, runs int, only *regexp.Regexp, coldRuns int) error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "builder-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	e, err := newEnv(ctx, root, work, only, coldRuns)
	if err != nil {
		return err
	}
	defer e.close()
	restore, err := e.guard(filepath.Join(root, "app", "main.go"))
	if err != nil {
		return err
	}
	defer restore()
	res, err := e.scenarios(ctx, runs)
	if err != nil {
		return err
	}
	return report(os.Stdout, e, res)
}
