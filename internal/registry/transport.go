package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Bounds on registry traffic, variables so that tests can shorten them.
// With them an unreachable registry fails within about 30 seconds: each of
// MaxAttempts connection attempts is bounded by DialTimeout, with backoff
// between them; a registry that stops sending fails a request after
// IdleTimeout; and however many requests fail, a run retries at most
// RunRetries times and waits at most RunRetryWait for them in all.
var (
	DialTimeout   = 5 * time.Second
	IdleTimeout   = 60 * time.Second
	MaxAttempts   = 4
	FirstBackoff  = 500 * time.Millisecond
	MaxRetryAfter = 30 * time.Second
	RunRetries    = 16
	RunRetryWait  = 60 * time.Second
	// MaxManifestBytes bounds a response read into memory: a manifest,
	// index, token or error; MaxTagListBytes a tag list, all its pages
	// together. Blobs are streamed and checked against their digest.
	MaxManifestBytes int64 = 4 << 20
	MaxTagListBytes  int64 = 64 << 20
)

// ErrPlainHTTP is returned for a plain-HTTP request to a registry that is
// neither on loopback nor named insecure by the user.
var ErrPlainHTTP = errors.New("plain HTTP is only used for loopback registries")

// NewTransport returns the transport for registry traffic, over base (a
// clone of remote.DefaultTransport when nil): TLS verified against the system
// roots (SSL_CERT_FILE included); plain HTTP only to loopback hosts and the
// hosts in insecure; a request failed when the registry sends nothing for
// IdleTimeout, and an answer read into memory bounded in size; and requests
// retried with backoff on 408, 429, 5xx and dropped connections, honouring
// Retry-After, within one retry budget for everything the transport carries
// (RunRetries, RunRetryWait): a run uses one transport.
func NewTransport(base http.RoundTripper, insecure []string) http.RoundTripper {
	if base == nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = DialTimeout
		// A backstop: watched fails a silent request after IdleTimeout.
		t.ResponseHeaderTimeout = 2 * IdleTimeout
		base = t
	}
	allowed := map[string]bool{}
	for _, h := range insecure {
		allowed[h] = true
	}
	guarded := &httpGuard{inner: base, insecure: allowed}
	return &retrying{inner: &watched{inner: guarded, idle: IdleTimeout}, sleep: sleepCtx, budget: newRetryBudget()}
}

// errSpeaksHTTP fails an HTTPS request to a registry known to answer plain
// HTTP, so that ggcr's ping falls back to HTTP at once instead of waiting
// for the TLS handshake to time out.
var errSpeaksHTTP = errors.New("registry answers plain HTTP")

type httpGuard struct {
	inner    http.RoundTripper
	insecure map[string]bool
	plain    sync.Map // host → *plainProbe
}

type plainProbe struct {
	once  sync.Once
	plain bool
}

func (g *httpGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	mayBePlain := g.insecure[host] || IsLoopback(host)
	if req.URL.Scheme == "http" && !mayBePlain {
		return nil, fmt.Errorf("%w: refusing http://%s; pass --insecure-registry %s to allow it", ErrPlainHTTP, host, host)
	}
	if req.URL.Scheme == "https" && mayBePlain && req.URL.Path == "/v2/" && g.speaksHTTP(req.Context(), host) {
		return nil, errSpeaksHTTP
	}
	return g.inner.RoundTrip(req)
}

// speaksHTTP asks once per host whether it answers the registry API over
// plain HTTP: a 200 or 401 from GET /v2/ with the distribution API header.
// A TLS-only registry answers no such thing, and keeps HTTPS.
func (g *httpGuard) speaksHTTP(ctx context.Context, host string) bool {
	v, _ := g.plain.LoadOrStore(host, &plainProbe{})
	p := v.(*plainProbe)
	p.once.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
		if err != nil {
			return
		}
		resp, err := g.inner.RoundTrip(req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		ok := resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized
		p.plain = ok && resp.Header.Get("Docker-Distribution-API-Version") != ""
	})
	return p.plain
}

// IsLoopback reports whether host (with or without a port) is localhost, a
// name under .localhost, or a loopback address.
func IsLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
