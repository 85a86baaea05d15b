package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Bounds on registry traffic. With them an unreachable registry fails within
// about 30 seconds: each of MaxAttempts connection attempts is bounded by
// DialTimeout, with backoff between them.
const (
	DialTimeout   = 5 * time.Second
	MaxAttempts   = 4
	FirstBackoff  = 500 * time.Millisecond
	MaxRetryAfter = 30 * time.Second
)

// ErrPlainHTTP is returned for a plain-HTTP request to a registry that is
// neither on loopback nor named insecure by the user.
var ErrPlainHTTP = errors.New("plain HTTP is only used for loopback registries")

// NewTransport returns the transport for registry traffic, over base (a
// clone of remote.DefaultTransport when nil): TLS verified against the system
// roots (SSL_CERT_FILE included); plain HTTP only to loopback hosts and the
// hosts in insecure; and requests retried with backoff on 408, 429, 5xx and
// dropped connections, honouring Retry-After.
func NewTransport(base http.RoundTripper, insecure []string) http.RoundTripper {
	if base == nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = DialTimeout
		t.ResponseHeaderTimeout = 60 * time.Second
		base = t
	}
	allowed := map[string]bool{}
	for _, h := range insecure {
		allowed[h] = true
	}
	return &retrying{inner: &httpGuard{inner: base, insecure: allowed}, sleep: sleepCtx}
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

type retrying struct {
	inner http.RoundTripper
	sleep func(context.Context, time.Duration) error
}

func (r *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	backoff := FirstBackoff
	for attempt := 1; ; attempt++ {
		resp, err := r.inner.RoundTrip(req)
		if attempt == MaxAttempts || !replayable {
			return resp, err
		}
		wait, again := retryAfter(resp, err, backoff)
		if !again {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
		if err := r.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		backoff *= 2
		if req, err = rewind(req); err != nil {
			return nil, err
		}
	}
}

// retryAfter says whether a response or error is worth another try, and
// after how long: the server's Retry-After when it gives one (capped at
// MaxRetryAfter), else backoff.
func retryAfter(resp *http.Response, err error, backoff time.Duration) (time.Duration, bool) {
	if err != nil {
		var dns *net.DNSError
		if errors.As(err, &dns) || errors.Is(err, ErrPlainHTTP) || errors.Is(err, errSpeaksHTTP) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return 0, false
		}
		// A plain-HTTP answer to HTTPS, or a certificate that does not
		// verify, fails the same way every time.
		var plain tls.RecordHeaderError
		var cert *tls.CertificateVerificationError
		if errors.As(err, &plain) || errors.As(err, &cert) {
			return 0, false
		}
		return backoff, true
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
	default:
		return 0, false
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			return min(time.Duration(secs)*time.Second, MaxRetryAfter), true
		}
		if at, err := http.ParseTime(ra); err == nil {
			return min(max(time.Until(at), 0), MaxRetryAfter), true
		}
	}
	return backoff, true
}

func rewind(req *http.Request) (*http.Request, error) {
	if req.GetBody == nil {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("replaying the request body: %w", err)
	}
	next := req.Clone(req.Context())
	next.Body = body
	return next, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
