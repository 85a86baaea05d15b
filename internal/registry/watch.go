package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// ErrIdle is wrapped by the error of a request to a registry that sent
// nothing for IdleTimeout: neither took the request's body, nor answered,
// nor sent more of its answer's body.
var ErrIdle = errors.New("the registry sent nothing")

// ErrTooLarge is wrapped by the error of an answer larger than builder
// reads into memory (MaxManifestBytes, MaxTagListBytes).
var ErrTooLarge = errors.New("answer too large")

// watched fails a request when the registry goes idle (see ErrIdle), and
// bounds the answers that are read into memory (see ErrTooLarge).
type watched struct {
	inner http.RoundTripper
	idle  time.Duration
}

func (w *watched) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	dog := &watchdog{idle: w.idle, cancel: cancel}
	sent := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		sent.Body = &kickingBody{ReadCloser: req.Body, dog: dog}
	}
	if req.GetBody != nil {
		// net/http may send a body again itself, from GetBody.
		sent.GetBody = func() (io.ReadCloser, error) {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			return &kickingBody{ReadCloser: body, dog: dog}, nil
		}
	}
	dog.arm()
	resp, err := w.inner.RoundTrip(sent)
	dog.disarm()
	if err != nil {
		cancel()
		if dog.fired() {
			return nil, dog.err(req)
		}
		return nil, err
	}
	left := bodyLimit(req)
	if left != nil && resp.ContentLength > left.Load() {
		_ = resp.Body.Close()
		cancel()
		return nil, tooLarge(req)
	}
	resp.Body = &watchedBody{rc: resp.Body, dog: dog, req: req, left: left}
	return resp, nil
}

// watchdog cancels a request when it is armed for longer than idle.
type watchdog struct {
	idle   time.Duration
	cancel context.CancelFunc

	mu    sync.Mutex
	timer *time.Timer
	bit   atomic.Bool
}

// arm starts, or starts again, the wait for the registry.
func (d *watchdog) arm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer == nil {
		d.timer = time.AfterFunc(d.idle, d.fire)
		return
	}
	d.timer.Reset(d.idle)
}

// disarm stops the wait: the registry did something, or builder is not
// waiting for it.
func (d *watchdog) disarm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
	}
}

func (d *watchdog) fire() {
	d.bit.Store(true)
	d.cancel()
}

func (d *watchdog) fired() bool { return d.bit.Load() }

func (d *watchdog) err(req *http.Request) error {
	return fmt.Errorf("%s %s: %w for %s", req.Method, where(req), ErrIdle, d.idle)
}

// where names a request's host and path, without its query, which may
// carry credentials.
func where(req *http.Request) string { return req.URL.Host + req.URL.Path }

// kickingBody is a request body: each read of it shows that the registry
// takes the request.
type kickingBody struct {
	io.ReadCloser
	dog *watchdog
}

func (b *kickingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.dog.arm()
	}
	return n, err
}

// watchedBody is an answer's body, each read of which must get a byte
// within the watchdog's time, and which fails once it has given more than
// left bytes (nil: any number).
type watchedBody struct {
	rc   io.ReadCloser
	dog  *watchdog
	req  *http.Request
	left *atomic.Int64
}

func (b *watchedBody) Read(p []byte) (int, error) {
	if b.left != nil && b.left.Load() < 0 {
		return 0, b.abort(tooLarge(b.req))
	}
	b.dog.arm()
	n, err := b.rc.Read(p)
	b.dog.disarm()
	if b.dog.fired() {
		return n, b.abort(b.dog.err(b.req))
	}
	if b.left != nil && b.left.Add(-int64(n)) < 0 {
		return 0, b.abort(tooLarge(b.req))
	}
	return n, err
}

// abort ends the request and returns err: a reader that gets an error may
// not close the body (ggcr's tag listing does not), which would keep the
// connection, and the registry's handler, busy.
func (b *watchedBody) abort(err error) error {
	b.dog.cancel()
	_ = b.rc.Close()
	return err
}

func (b *watchedBody) Close() error {
	b.dog.disarm()
	defer b.dog.cancel()
	return b.rc.Close()
}

var (
	blobPath    = regexp.MustCompile(`^/v2/.+/blobs/[a-z0-9]+:[a-f0-9]+$`)
	tagListPath = regexp.MustCompile(`^/v2/.+/tags/list$`)
)

// bodyLimit returns how many bytes of req's answer may be read: nil for a
// blob, which is streamed; MaxTagListBytes for a tag list, shared by the
// pages of one listing when its context carries a budget (WithTagListBudget);
// else MaxManifestBytes.
func bodyLimit(req *http.Request) *atomic.Int64 {
	// A redirected request (a blob served by a CDN) is limited as the
	// registry request it follows.
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	switch {
	case req.Method == http.MethodHead:
		// No body: the length a HEAD announces is the blob's or the
		// manifest's, which is not read.
		return nil
	case req.Method == http.MethodGet && blobPath.MatchString(req.URL.Path):
		return nil
	case tagListPath.MatchString(req.URL.Path):
		if shared, ok := req.Context().Value(tagListBudgetKey{}).(*atomic.Int64); ok {
			return shared
		}
		return limitOf(MaxTagListBytes)
	}
	return limitOf(MaxManifestBytes)
}

func limitOf(n int64) *atomic.Int64 {
	left := new(atomic.Int64)
	left.Store(n)
	return left
}

type tagListBudgetKey struct{}

// withTagListBudget returns ctx under which every page of a tag listing
// counts against one MaxTagListBytes.
func withTagListBudget(ctx context.Context) context.Context {
	return context.WithValue(ctx, tagListBudgetKey{}, limitOf(MaxTagListBytes))
}

func tooLarge(req *http.Request) error {
	limit := MaxManifestBytes
	if tagListPath.MatchString(req.URL.Path) {
		limit = MaxTagListBytes
	}
	return fmt.Errorf("%s %s: %w: builder reads at most %s", req.Method, where(req), ErrTooLarge, sizeString(limit))
}

func sizeString(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
