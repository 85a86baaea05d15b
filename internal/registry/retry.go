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
	"sync"
	"time"
)

// retrying retries a request that failed in a way that may pass (408, 429,
// 5xx, a dropped connection) when its body can be sent again: at most
// MaxAttempts times, after backoff or the server's Retry-After, and only
// while budget, shared by every request of a run, allows.
type retrying struct {
	inner  http.RoundTripper
	sleep  func(context.Context, time.Duration) error
	budget *retryBudget // nil for no bound beyond MaxAttempts
}

// ErrRetriesSpent is wrapped by the error of a request that failed again
// after it was retried, or that a run had no retries left for.
var ErrRetriesSpent = errors.New("no retries left")

// retriesSpent is a network error that was retried as much as it may be.
// ggcr must not retry it again: that is what multiplied attempts.
type retriesSpent struct {
	err      error
	attempts int
}

func (e *retriesSpent) Error() string {
	if e.attempts == 1 {
		return fmt.Sprintf("%v (the run has no retries left)", e.err)
	}
	return fmt.Sprintf("%v (after %d attempts)", e.err, e.attempts)
}

func (e *retriesSpent) Unwrap() []error { return []error{e.err, ErrRetriesSpent} }

func (r *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	backoff := FirstBackoff
	for attempt := 1; ; attempt++ {
		resp, err := r.inner.RoundTrip(req)
		if !replayable(req) {
			return resp, err
		}
		wait, again := retryAfter(resp, err, backoff)
		if !again {
			return resp, err
		}
		if attempt >= MaxAttempts || !r.budget.take(wait) {
			if err != nil {
				return nil, &retriesSpent{err: err, attempts: attempt}
			}
			return resp, nil
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

// replayable reports whether req's body, if any, can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// retryBudget bounds the retries of every request of one run together: how
// many, and how long they wait in all.
type retryBudget struct {
	mu      sync.Mutex
	retries int
	wait    time.Duration
}

func newRetryBudget() *retryBudget {
	return &retryBudget{retries: RunRetries, wait: RunRetryWait}
}

// take reserves one retry after waiting d, and reports whether the run
// still had it. A nil budget has no bound.
func (b *retryBudget) take(d time.Duration) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.retries <= 0 || d > b.wait {
		return false
	}
	b.retries--
	b.wait -= d
	return true
}

// retryAfter says whether a response or error is worth another try, and
// after how long: the server's Retry-After when it gives one (capped at
// MaxRetryAfter), else backoff.
func retryAfter(resp *http.Response, err error, backoff time.Duration) (time.Duration, bool) {
	if err != nil {
		var dns *net.DNSError
		if errors.As(err, &dns) || errors.Is(err, ErrPlainHTTP) || errors.Is(err, errSpeaksHTTP) ||
			errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, ErrIdle) || errors.Is(err, ErrTooLarge) {
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
