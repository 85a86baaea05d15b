// Command builder turns a Go web service into a small, non-root,
// reproducible container image, without a Dockerfile or a Docker daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/buildercli/builder/internal/gobuild"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		var ce *gobuild.CompileError
		if errors.As(err, &ce) {
			fmt.Fprint(os.Stderr, ce.Output)
		}
		fmt.Fprintf(os.Stderr, "builder: %v\n", err)
		os.Exit(1)
	}
}
