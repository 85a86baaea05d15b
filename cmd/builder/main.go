// Command builder turns a Go web service into a small, non-root,
// reproducible container image, without a Dockerfile or a Docker daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/buildercli/builder/internal/gobuild"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	if os.Getenv("BUILDER_TRACE") == "1" {
		reportPeakRSS()
		reportOwnCPU()
	}
	if err != nil {
		var ce *gobuild.CompileError
		if errors.As(err, &ce) {
			fmt.Fprint(os.Stderr, ce.Output)
		}
		fmt.Fprintf(os.Stderr, "builder: %v\n", err)
		os.Exit(1)
	}
}

// reportPeakRSS prints builder's own peak resident set size for
// `make bench`: VmHWM, the high-water mark of this program's memory map.
// getrusage's ru_maxrss would not do: exec carries the parent's peak over,
// and a child's (the compiler's) is not this process's.
func reportPeakRSS() {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB"))); err == nil {
				fmt.Fprintf(os.Stderr, "trace: peak RSS %.1f MB\n", float64(n)/1024)
			}
		}
	}
}

// reportOwnCPU prints the CPU time this process used, the compiler's and
// every other child's not counted, and then its children's (go build, git,
// and with --cache-repo the cache program go build runs, builder itself),
// for `make bench` to tell builder's own work from the go build it runs.
func reportOwnCPU() {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Fprintf(os.Stderr, "trace: own CPU %.0f ms\n", float64(cpu.Microseconds())/1000)
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Fprintf(os.Stderr, "trace: children's CPU %.0f ms\n", float64(cpu.Microseconds())/1000)
}
