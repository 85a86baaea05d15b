package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// newRegistry returns a registry, separate from the global default, that
// holds the Go runtime and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// httpMetrics counts and times requests by route, method and status code.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// newHTTPMetrics registers the request metrics on reg.
// It panics if reg already holds them.
func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	labels := []string{"route", "method", "code"}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by route template, method and status code.",
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency in seconds, by route template, method and status code.",
			Buckets: prometheus.DefBuckets,
		}, labels),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// observe is gin middleware that records each request in m.
func (m *httpMetrics) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	labels := prometheus.Labels{
		"route":  routeOf(c),
		"method": methodLabel(c.Request.Method),
		"code":   strconv.Itoa(c.Writer.Status()),
	}
	m.requests.With(labels).Inc()
	m.latency.With(labels).Observe(time.Since(start).Seconds())
}

// methodLabel maps non-standard methods to "other" so that clients cannot
// create unbounded label values.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "other"
}
