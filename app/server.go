package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// readHeaderTimeout bounds how long a client may take to send headers.
const readHeaderTimeout = 10 * time.Second

// run serves the service's routes as configured by cfg, logging JSON lines
// to stdout, until ctx is cancelled; then it shuts down gracefully.
// If ready is not nil, it receives the listening address once serving.
func run(ctx context.Context, cfg config, stdout io.Writer, ready chan<- string) error {
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	var draining atomic.Bool
	r := newRouter(logger, newRegistry(), &draining)
	return serve(ctx, cfg, logger, r, &draining, ready)
}

// serve serves h on cfg's address until ctx is cancelled. It then sets
// draining, so /readyz answers 503, and waits up to cfg.ShutdownTimeout
// for in-flight requests. It returns nil only after a clean shutdown.
func serve(ctx context.Context, cfg config, logger *slog.Logger, h http.Handler, draining *atomic.Bool, ready chan<- string) error {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
	}
	logStartup(logger, ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if ready != nil {
		select {
		case ready <- ln.Addr().String():
		case <-ctx.Done():
		}
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	draining.Store(true)
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return errors.Join(fmt.Errorf("shutting down: %w", err), srv.Close())
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}
	logger.Info("shutdown complete")
	return nil
}

// logStartup logs the build, the listening address and the local time zone.
func logStartup(logger *slog.Logger, addr net.Addr) {
	port := 0
	if a, ok := addr.(*net.TCPAddr); ok {
		port = a.Port
	}
	logger.Info("starting",
		"version", version,
		"commit", commit,
		"addr", addr.String(),
		"port", port,
		"tz", time.Local.String(),
		"utc_offset", time.Now().Format("-07:00"),
	)
}
