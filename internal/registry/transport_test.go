package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/buildercli/builder/internal/registrytest"
)

// reply is what a scripted round trip gives: a status, or an error.
type reply struct {
	status     int
	retryAfter string
	err        error
}

// scripted is a RoundTripper that answers with its replies in turn,
// repeating the last, and records what it was sent.
type scripted struct {
	replies []reply

	mu     sync.Mutex
	bodies []string // request bodies, one per attempt
	open   int      // response bodies not closed
}

func (s *scripted) RoundTrip(req *http.Request) (*http.Response, error) {
	body := ""
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		body = string(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.replies[min(len(s.bodies), len(s.replies)-1)]
	s.bodies = append(s.bodies, body)
	if r.err != nil {
		return nil, r.err
	}
	resp := &http.Response{StatusCode: r.status, Header: http.Header{}, Request: req,
		Body: &trackedBody{Reader: strings.NewReader("body"), s: s}}
	if r.retryAfter != "" {
		resp.Header.Set("Retry-After", r.retryAfter)
	}
	s.open++
	return resp, nil
}

func (s *scripted) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

type trackedBody struct {
	io.Reader
	s    *scripted
	once sync.Once
}

func (b *trackedBody) Close() error {
	b.once.Do(func() {
		b.s.mu.Lock()
		defer b.s.mu.Unlock()
		b.s.open--
	})
	return nil
}

// sleeps records the waits of a retrying transport instead of waiting.
type sleeps struct{ waits []time.Duration }

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func get(t *testing.T, ctx context.Context, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	return req
}

var (
	errReset = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	errDNS   = &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "registry.test", IsNotFound: true}}
)

func TestRetrying(t *testing.T) {
	ok := reply{status: http.StatusOK}
	for _, tc := range []struct {
		name       string
		replies    []reply
		wantStatus int   // 0 when an error is wanted
		wantErr    error // matched with errors.Is
		wantWaits  []time.Duration
	}{{
		name:       "503 twice then 200",
		replies:    []reply{{status: 503}, {status: 503}, ok},
		wantStatus: 200,
		wantWaits:  []time.Duration{FirstBackoff, 2 * FirstBackoff},
	}, {
		name:       "408, 500, 502, 504 are retried",
		replies:    []reply{{status: 408}, {status: 500}, {status: 502}, {status: 504}},
		wantStatus: 504,
		wantWaits:  []time.Duration{FirstBackoff, 2 * FirstBackoff, 4 * FirstBackoff},
	}, {
		name:       "429 honours Retry-After in seconds",
		replies:    []reply{{status: 429, retryAfter: "1"}, ok},
		wantStatus: 200,
		wantWaits:  []time.Duration{time.Second},
	}, {
		name:       "Retry-After is capped",
		replies:    []reply{{status: 503, retryAfter: "3600"}, ok},
		wantStatus: 200,
		wantWaits:  []time.Duration{MaxRetryAfter},
	}, {
		name:       "Retry-After as a past HTTP date means now",
		replies:    []reply{{status: 503, retryAfter: "Mon, 02 Jan 2006 15:04:05 GMT"}, ok},
		wantStatus: 200,
		wantWaits:  []time.Duration{0},
	}, {
		name:       "Retry-After as a far HTTP date is capped",
		replies:    []reply{{status: 503, retryAfter: "Fri, 31 Dec 2100 23:59:59 GMT"}, ok},
		wantStatus: 200,
		wantWaits:  []time.Duration{MaxRetryAfter},
	}, {
		name:       "unreadable Retry-After falls back to backoff",
		replies:    []reply{{status: 503, retryAfter: "soon"}, ok},
		wantStatus: 200,
		wantWaits:  []time.Duration{FirstBackoff},
	}, {
		name:       "400 is not retried",
		replies:    []reply{{status: 400}, ok},
		wantStatus: 400,
	}, {
		name:       "404 is not retried",
		replies:    []reply{{status: 404}, ok},
		wantStatus: 404,
	}, {
		name:       "401 is not retried",
		replies:    []reply{{status: 401}, ok},
		wantStatus: 401,
	}, {
		name:       "always 503 stops after MaxAttempts",
		replies:    []reply{{status: 503}},
		wantStatus: 503,
		wantWaits:  []time.Duration{FirstBackoff, 2 * FirstBackoff, 4 * FirstBackoff},
	}, {
		name:       "a reset connection is retried",
		replies:    []reply{{err: errReset}, ok},
		wantStatus: 200,
		wantWaits:  []time.Duration{FirstBackoff},
	}, {
		name:      "a connection that keeps failing gives its error",
		replies:   []reply{{err: errReset}},
		wantErr:   syscall.ECONNRESET,
		wantWaits: []time.Duration{FirstBackoff, 2 * FirstBackoff, 4 * FirstBackoff},
	}, {
		name:    "a DNS failure is not retried",
		replies: []reply{{err: errDNS}, ok},
		wantErr: errDNS,
	}, {
		name:    "a refused plain-HTTP request is not retried",
		replies: []reply{{err: ErrPlainHTTP}, ok},
		wantErr: ErrPlainHTTP,
	}, {
		name:    "cancellation is not retried",
		replies: []reply{{err: context.Canceled}, ok},
		wantErr: context.Canceled,
	}, {
		name:    "an HTTP answer to HTTPS is not retried",
		replies: []reply{{err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}, ok},
	}, {
		name:    "an untrusted certificate is not retried",
		replies: []reply{{err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, ok},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &scripted{replies: tc.replies}
			var s sleeps
			rt := &retrying{inner: inner, sleep: s.sleep}
			resp, err := rt.RoundTrip(get(t, context.Background(), "https://registry.test/v2/"))
			wantAttempts := len(tc.wantWaits) + 1
			if got := inner.attempts(); got != wantAttempts {
				t.Errorf("attempts = %d, want %d", got, wantAttempts)
			}
			if diff := cmp.Diff(tc.wantWaits, s.waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if tc.wantStatus == 0 {
				if err == nil {
					t.Fatalf("RoundTrip gave status %d, want an error", resp.StatusCode)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("RoundTrip error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if err := resp.Body.Close(); err != nil {
				t.Fatalf("closing the body: %v", err)
			}
			if inner.open != 0 {
				t.Errorf("%d response bodies of retried attempts left open", inner.open)
			}
		})
	}
}

func TestRetryingReplaysBody(t *testing.T) {
	inner := &scripted{replies: []reply{{status: 503}, {err: errReset}, {status: 201}}}
	var s sleeps
	rt := &retrying{inner: inner, sleep: s.sleep}
	// NewRequest sets GetBody for a *strings.Reader.
	req, err := http.NewRequest(http.MethodPatch, "https://registry.test/v2/app/blobs/uploads/1", strings.NewReader("layer bytes"))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatalf("closing the body: %v", err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status = %d, want 201", resp.StatusCode)
	}
	want := []string{"layer bytes", "layer bytes", "layer bytes"}
	if diff := cmp.Diff(want, inner.bodies); diff != "" {
		t.Errorf("bodies sent (-want +got):\n%s", diff)
	}
}

func TestRetryingKeepsNonReplayableBody(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply reply
	}{
		{"503", reply{status: 503}},
		{"reset connection", reply{err: errReset}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &scripted{replies: []reply{tc.reply, {status: 201}}}
			var s sleeps
			rt := &retrying{inner: inner, sleep: s.sleep}
			req, err := http.NewRequest(http.MethodPatch, "https://registry.test/v2/app/blobs/uploads/1", nil)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			req.Body = io.NopCloser(strings.NewReader("a stream")) // no GetBody: cannot be sent twice
			resp, err := rt.RoundTrip(req)
			if resp != nil {
				if err := resp.Body.Close(); err != nil {
					t.Fatalf("closing the body: %v", err)
				}
			}
			if got := inner.attempts(); got != 1 {
				t.Errorf("attempts = %d, want 1", got)
			}
			if tc.reply.err != nil && !errors.Is(err, tc.reply.err) {
				t.Errorf("RoundTrip error = %v, want %v", err, tc.reply.err)
			}
			if tc.reply.err == nil && (err != nil || resp.StatusCode != tc.reply.status) {
				t.Errorf("RoundTrip = %v, %v; want status %d", resp, err, tc.reply.status)
			}
		})
	}
}

func TestRetryingStopsWhenCancelledWhileWaiting(t *testing.T) {
	inner := &scripted{replies: []reply{{status: 503}, {status: 200}}}
	rt := &retrying{inner: inner, sleep: sleepCtx}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := rt.RoundTrip(get(t, ctx, "https://registry.test/v2/"))
	if resp != nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RoundTrip = %v, %v; want context.Canceled", resp, err)
	}
	if got := inner.attempts(); got != 1 {
		t.Errorf("attempts = %d, want 1", got)
	}
	if inner.open != 0 {
		t.Errorf("the 503's body was left open")
	}
}

func TestNewTransportGuardsPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		url      string
		insecure []string
		allowed  bool
	}{
		{"remote over plain HTTP", "http://registry.test:5000/v2/", nil, false},
		{"remote without port", "http://registry.test/v2/", nil, false},
		{"remote named insecure", "http://registry.test:5000/v2/", []string{"registry.test:5000"}, true},
		{"another remote named insecure", "http://registry.test:5000/v2/", []string{"other.test:5000"}, false},
		{"remote over HTTPS", "https://registry.test:5000/v2/", nil, true},
		{"127.0.0.1", "http://127.0.0.1/v2/", nil, true},
		{"127.0.0.1 with port", "http://127.0.0.1:5000/v2/", nil, true},
		{"localhost", "http://localhost:5000/v2/", nil, true},
		{"IPv6 loopback", "http://[::1]:5000/v2/", nil, true},
		{"a name under .localhost", "http://foo.localhost/v2/", nil, true},
		{"a private address", "http://10.0.0.1:5000/v2/", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := &scripted{replies: []reply{{status: 200}}}
			rt := NewTransport(base, tc.insecure)
			resp, err := rt.RoundTrip(get(t, context.Background(), tc.url))
			if !tc.allowed {
				if !errors.Is(err, ErrPlainHTTP) {
					t.Fatalf("RoundTrip = %v, %v; want ErrPlainHTTP", resp, err)
				}
				if !strings.Contains(err.Error(), "--insecure-registry") {
					t.Errorf("error %q gives no hint", err)
				}
				if got := base.attempts(); got != 0 {
					t.Errorf("%d requests reached the network", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			if err := resp.Body.Close(); err != nil {
				t.Fatalf("closing the body: %v", err)
			}
			if got := base.attempts(); got != 1 {
				t.Errorf("%d requests reached the network, want 1", got)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost":             true,
		"localhost:5000":        true,
		"foo.localhost":         true,
		"foo.localhost:5000":    true,
		"127.0.0.1":             true,
		"127.0.0.1:5000":        true,
		"127.1.2.3":             true,
		"::1":                   true,
		"[::1]":                 true,
		"[::1]:5000":            true,
		"":                      false,
		"registry.test":         false,
		"registry.test:5000":    false,
		"localhost.example.com": false,
		"notlocalhost":          false,
		"10.0.0.1":              false,
		"0.0.0.0":               false,
		"[::]:5000":             false,
		"128.0.0.1":             false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestNewTransportRetriesAgainstRegistry checks the whole transport over a
// real server: two 503s, then the registry's answer.
func TestNewTransportRetriesAgainstRegistry(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	reg.Inject(registrytest.Fault{Kind: registrytest.KindPing, N: 2, Status: http.StatusServiceUnavailable})
	resp, err := NewTransport(nil, nil).RoundTrip(get(t, context.Background(), "http://"+reg.Host+"/v2/"))
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatalf("closing the body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	if got := len(reg.Requests()); got != 3 {
		t.Errorf("the registry saw %d requests, want 3", got)
	}
}
