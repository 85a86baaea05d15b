package main

import (
	"log/slog"
	"net/http"
	"runtime"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// unmatchedRoute labels requests that matched no route, so that 404s for
// arbitrary paths do not each create a new label value.
const unmatchedRoute = "unmatched"

// newRouter builds the service's routes on a gin.New engine. Requests are
// logged to logger and counted in metrics registered on reg, which /metrics
// also serves. /readyz answers 503 once draining is set.
// It panics if reg already holds the request metrics.
func newRouter(logger *slog.Logger, reg *prometheus.Registry, draining *atomic.Bool) *gin.Engine {
	r := gin.New()
	r.Use(logRequests(logger), newHTTPMetrics(reg).observe, recoverPanics(logger))

	r.GET("/ping", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"message": "pong"})
	})
	r.GET("/healthz", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
	r.GET("/readyz", func(c *gin.Context) {
		if draining.Load() {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "shutting down"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	r.GET("/version", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{
			"version": version,
			"commit":  commit,
			"date":    date,
			"go":      runtime.Version(),
		})
	})
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	// gin's default 404 body is written after the middleware has run, so
	// write our own for the request log to see its size.
	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, gin.H{"error": "not found"})
	})
	return r
}

// routeOf returns the route template that matched c, such as "/ping".
func routeOf(c *gin.Context) string {
	if p := c.FullPath(); p != "" {
		return p
	}
	return unmatchedRoute
}
