package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestExplain(t *testing.T) {
	remoteReg, err := name.NewRegistry("registry.test:5000")
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	loopback, err := name.NewRegistry("localhost:5000")
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	unavailable := &transport.Error{StatusCode: http.StatusServiceUnavailable}
	onWire := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://registry.test:5000/v2/", Err: err}
	}
	multiLine := &transport.Error{StatusCode: http.StatusInternalServerError,
		Errors: []transport.Diagnostic{{Code: "UNKNOWN", Message: "backend said:\n\tdisk full\r\n"}}}
	odd := errors.New("something odd")
	for _, tc := range []struct {
		name    string
		loop    bool // the registry is on loopback, else registry.test:5000
		err     error
		want    []string // substrings of the message
		notWant []string // not substrings of the message
		wantIs  error    // wrapped by the result, when set
	}{{
		name:   "401",
		err:    &transport.Error{StatusCode: http.StatusUnauthorized},
		want:   []string{"registry.test:5000", "401", "builder login registry.test:5000"},
		wantIs: ErrAuth,
	}, {
		name:   "403",
		err:    &transport.Error{StatusCode: http.StatusForbidden},
		want:   []string{"registry.test:5000", "403", "may push"},
		wantIs: ErrAuth,
	}, {
		name: "unknown certificate authority",
		err:  onWire(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}),
		want: []string{"registry.test:5000", "not trusted", "unknown authority", "SSL_CERT_FILE"},
	}, {
		name: "expired certificate",
		err:  onWire(x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.Expired}),
		want: []string{"not trusted", "expired", "SSL_CERT_FILE"},
	}, {
		name: "HTTP answer to HTTPS",
		err:  onWire(http.ErrSchemeMismatch),
		want: []string{"answers plain HTTP", "--insecure-registry registry.test:5000"},
	}, {
		// ggcr pings a loopback registry over HTTPS and HTTP at once.
		name:    "HTTP answer to HTTPS from loopback, which then fails over HTTP",
		loop:    true,
		err:     errors.Join(onWire(http.ErrSchemeMismatch), unavailable),
		want:    []string{"503"},
		notWant: []string{"--insecure-registry", "HTTPS client"},
		wantIs:  unavailable,
	}, {
		name: "TLS record header",
		err:  onWire(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}),
		want: []string{"answers plain HTTP", "--insecure-registry registry.test:5000"},
	}, {
		name:   "plain HTTP refused",
		err:    onWire(fmt.Errorf("%w: refusing http://registry.test:5000; pass --insecure-registry registry.test:5000 to allow it", ErrPlainHTTP)),
		want:   []string{"refusing http://registry.test:5000", "--insecure-registry"},
		wantIs: ErrPlainHTTP,
	}, {
		name: "DNS",
		err:  onWire(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "registry.test", IsNotFound: true}}),
		want: []string{"cannot resolve registry host registry.test:5000", "no such host", "repository name"},
	}, {
		name: "connection refused",
		err:  onWire(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}),
		want: []string{"cannot reach registry registry.test:5000", "connection refused", "is it running"},
	}, {
		name: "dial timeout",
		err:  onWire(&net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}),
		want: []string{"cannot reach registry registry.test:5000", "timeout"},
	}, {
		name:   "interrupted",
		err:    onWire(context.Canceled),
		want:   []string{"interrupted"},
		wantIs: context.Canceled,
	}, {
		name:   "a multi-line error",
		err:    multiLine,
		want:   []string{"backend said: disk full"},
		wantIs: multiLine,
	}, {
		name:   "anything else is kept",
		err:    odd,
		want:   []string{"something odd"},
		wantIs: odd,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			reg := remoteReg
			if tc.loop {
				reg = loopback
			}
			got := Explain(reg, tc.err)
			if got == nil {
				t.Fatalf("Explain(%v) = nil", tc.err)
			}
			msg := got.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("Explain gave more than one line: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Explain = %q, want it to mention %q", msg, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(msg, w) {
					t.Errorf("Explain = %q, want no mention of %q", msg, w)
				}
			}
			if tc.wantIs != nil && !errors.Is(got, tc.wantIs) {
				t.Errorf("Explain = %q does not wrap %v", msg, tc.wantIs)
			}
			if !errors.Is(tc.wantIs, ErrAuth) && errors.Is(got, ErrAuth) {
				t.Errorf("Explain = %q wraps ErrAuth", msg)
			}
		})
	}
}
