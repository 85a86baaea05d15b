package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// config holds the service settings. loadConfig fills it from the
// environment; tests build it directly.
type config struct {
	// Host is the interface to listen on; empty means all interfaces.
	Host string
	// Port is the TCP port to listen on; 0 picks a free port.
	Port int
	// GinMode is the gin mode: debug, release or test.
	GinMode string
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish once shutdown has begun.
	ShutdownTimeout time.Duration
}

// loadConfig reads PORT, GIN_MODE and SHUTDOWN_TIMEOUT through getenv,
// applying defaults for unset variables and rejecting invalid values.
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{Port: 8080, GinMode: gin.ReleaseMode, ShutdownTimeout: 10 * time.Second}
	if s := getenv("PORT"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 || p > 65535 {
			return config{}, fmt.Errorf("invalid PORT %q: want an integer from 1 to 65535", s)
		}
		cfg.Port = p
	}
	if s := getenv(gin.EnvGinMode); s != "" {
		switch s {
		case gin.DebugMode, gin.ReleaseMode, gin.TestMode:
			cfg.GinMode = s
		default:
			return config{}, fmt.Errorf("invalid %s %q: want debug, release or test", gin.EnvGinMode, s)
		}
	}
	if s := getenv("SHUTDOWN_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return config{}, fmt.Errorf("invalid SHUTDOWN_TIMEOUT %q: want a positive Go duration such as 10s", s)
		}
		cfg.ShutdownTimeout = d
	}
	return cfg, nil
}
