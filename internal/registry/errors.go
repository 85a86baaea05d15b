package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrAuth is wrapped by errors for refused credentials or access.
var ErrAuth = errors.New("access denied")

// Explain turns a registry error into one line that says what went wrong
// and, where one helps, what to do.
func Explain(reg name.Registry, err error) error {
	host := reg.RegistryStr()
	var te *transport.Error
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recordHeader tls.RecordHeaderError
	var dns *net.DNSError
	mismatch := errors.As(err, &recordHeader) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
	switch {
	case errors.Is(err, ErrIdle), errors.Is(err, ErrTooLarge):
		return oneLine(err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("interrupted: %w", err)
	case errors.As(err, &te) && te.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s refused the credentials (401): run `builder login %s -u USER --password-stdin` or check your docker config", ErrAuth, host, host)
	case errors.As(err, &te) && te.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s denied access (403): check that these credentials may push there", ErrAuth, host)
	case errors.As(err, &unknownCA):
		return untrusted(host, unknownCA)
	case errors.As(err, &hostname):
		return untrusted(host, hostname)
	case errors.As(err, &invalid):
		return untrusted(host, invalid)
	case mismatch && reg.Scheme() == "http" && errors.As(err, &te):
		// ggcr tried HTTPS besides plain HTTP, which this registry may use:
		// HTTPS failing is expected, and the plain-HTTP answer is the news.
		return oneLine(te)
	case mismatch && reg.Scheme() == "https":
		return fmt.Errorf("%s answers plain HTTP, not HTTPS: pass --insecure-registry %s if you trust the network", host, host)
	case errors.Is(err, ErrPlainHTTP):
		return oneLine(err)
	case errors.As(err, &dns):
		return fmt.Errorf("cannot resolve registry host %s (%v): check the repository name", host, dns.Err)
	case errors.Is(err, syscall.ECONNREFUSED), isTimeout(err):
		return fmt.Errorf("cannot reach registry %s (%w): is it running, and is the address right?", host, rootCause(err))
	}
	return oneLine(err)
}

// untrusted names the certificate problem alone: ggcr's error may also carry
// its plain-HTTP attempt, over several lines.
func untrusted(host string, cause error) error {
	return oneLine(fmt.Errorf("%s's TLS certificate is not trusted (x509: %v): set SSL_CERT_FILE to a bundle holding its CA", host, strings.TrimPrefix(cause.Error(), "x509: ")))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isDroppedConnection says whether an upload broke off midway and is worth
// starting again: a failure the transport could not retry itself, because
// the request's body was a stream it cannot send twice. What the transport
// did retry (a replayable request, or one that spent its retries) is not
// retried again.
func isDroppedConnection(err error) bool {
	if errors.Is(err, ErrRetriesSpent) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary() && te.Request != nil && !replayable(te.Request)
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

type lineError struct{ err error }

func (e lineError) Error() string { return strings.Join(strings.Fields(e.err.Error()), " ") }
func (e lineError) Unwrap() error { return e.err }

func oneLine(err error) error {
	if !strings.ContainsAny(err.Error(), "\n\r") {
		return err
	}
	return lineError{err}
}
