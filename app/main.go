// Command app is the small Gin web service that images built by builder ship.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	// The image base carries no zoneinfo; embedding the tz database makes
	// time.LoadLocation (and TZ=Area/City) work on any base.
	_ "time/tzdata"
)

const usage = `usage: app [healthcheck]

With no argument, app serves HTTP on $PORT (default 8080).
With "healthcheck", it exits 0 if http://127.0.0.1:$PORT/healthz answers 200, else 1.

Environment: PORT, GIN_MODE (default release), SHUTDOWN_TIMEOUT (default 10s).
`

// healthcheckTimeout bounds the whole healthcheck request.
const healthcheckTimeout = 2 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the command line args and returns the exit code: 0 on
// success, 1 if serving or the healthcheck failed, 2 on bad usage or config.
func execute(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	healthMode := len(args) == 1 && args[0] == "healthcheck"
	if len(args) > 0 && !healthMode {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "app: %v\n", err)
		return 2
	}
	if healthMode {
		url := fmt.Sprintf("http://127.0.0.1:%d/healthz", cfg.Port)
		if err := healthcheck(ctx, url, healthcheckTimeout); err != nil {
			fmt.Fprintf(stderr, "app: %v\n", err)
			return 1
		}
		return 0
	}
	gin.SetMode(cfg.GinMode)
	if err := run(ctx, cfg, stdout, nil); err != nil {
		fmt.Fprintf(stderr, "app: %v\n", err)
		return 1
	}
	return 0
}
