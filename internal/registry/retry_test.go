package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/buildercli/builder/internal/registrytest"
)

// The retries of every request of a run come out of one budget: how many,
// and how long they wait in all.
func TestRetryBudgetIsShared(t *testing.T) {
	for _, tc := range []struct {
		name         string
		retries      int
		wait         time.Duration
		reply        reply
		wantAttempts []int // per request, in turn
		wantWaits    []time.Duration
	}{
		{"retries", 3, time.Hour, reply{status: 503},
			[]int{MaxAttempts, 1, 1}, []time.Duration{FirstBackoff, 2 * FirstBackoff, 4 * FirstBackoff}},
		{"retries across requests", 4, time.Hour, reply{status: 503},
			[]int{MaxAttempts, 2, 1}, []time.Duration{FirstBackoff, 2 * FirstBackoff, 4 * FirstBackoff, FirstBackoff}},
		{"waiting", 100, 90 * time.Second, reply{status: 429, retryAfter: "3600"},
			[]int{MaxAttempts, 1}, []time.Duration{MaxRetryAfter, MaxRetryAfter, MaxRetryAfter}},
		{"waiting, spent in part", 100, 50 * time.Second, reply{status: 429, retryAfter: "3600"},
			[]int{2, 1}, []time.Duration{MaxRetryAfter}},
		{"dropped connections", 2, time.Hour, reply{err: errReset},
			[]int{3, 1}, []time.Duration{FirstBackoff, 2 * FirstBackoff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sleeps
			budget := &retryBudget{retries: tc.retries, wait: tc.wait}
			var got []int
			for range tc.wantAttempts {
				inner := &scripted{replies: []reply{tc.reply}}
				rt := &retrying{inner: inner, sleep: s.sleep, budget: budget}
				resp, err := rt.RoundTrip(get(t, context.Background(), "https://registry.test/v2/"))
				if err == nil {
					if err := resp.Body.Close(); err != nil {
						t.Fatalf("closing the body: %v", err)
					}
				} else if tc.reply.err == nil || !errors.Is(err, ErrRetriesSpent) {
					t.Errorf("RoundTrip error = %v", err)
				}
				got = append(got, inner.attempts())
			}
			if diff := cmp.Diff(tc.wantAttempts, got); diff != "" {
				t.Errorf("attempts per request (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWaits, s.waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

// ggcr retries again only what the transport could not: an upload whose
// stream broke.
func TestIsDroppedConnection(t *testing.T) {
	replayed, err := http.NewRequest(http.MethodPost, "https://registry.test/v2/app/blobs/uploads/", nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	stream, err := http.NewRequest(http.MethodPatch, "https://registry.test/v2/app/blobs/uploads/1", nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	stream.Body = io.NopCloser(strings.NewReader("layer"))
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"503 to a request the transport retried", &transport.Error{StatusCode: 503, Request: replayed}, false},
		{"429 to a request the transport retried", &transport.Error{StatusCode: 429, Request: replayed}, false},
		{"503 to a stream", &transport.Error{StatusCode: 503, Request: stream}, true},
		{"400 to a stream", &transport.Error{StatusCode: 400, Request: stream}, false},
		{"reset stream", errReset, true},
		{"reset after the transport's retries", &retriesSpent{err: errReset, attempts: MaxAttempts}, false},
		{"idle registry", ErrIdle, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isDroppedConnection(tc.err); got != tc.want {
				t.Errorf("isDroppedConnection(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// A request whose connection keeps dropping is tried MaxAttempts times in
// all, not MaxAttempts times for each of ggcr's own retries.
func TestDroppedConnectionsAreNotRetriedTwice(t *testing.T) {
	shorten(t, &FirstBackoff, 5*time.Millisecond)
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	reg.Inject(registrytest.Fault{Kind: registrytest.KindTagList})
	s := open(t, reg.Repo(t, "app"), Client{Transport: NewTransport(nil, nil)})
	if _, err := s.Tags(context.Background()); err == nil {
		t.Fatalf("Tags succeeded against a registry that drops every listing")
	}
	// Go's http.Transport itself sends an idempotent request again, once,
	// when the kept-alive connection it used turns out to be closed.
	if got := len(kindOf(reg, registrytest.KindTagList)); got < MaxAttempts || got > MaxAttempts+1 {
		t.Errorf("%d tag list requests, want %d (or one more)", got, MaxAttempts)
	}
}

func kindOf(reg *registrytest.Registry, kind string) []registrytest.Request {
	var out []registrytest.Request
	for _, q := range reg.Requests() {
		if q.Kind == kind {
			out = append(out, q)
		}
	}
	return out
}

// A registry that keeps answering 429 with a long Retry-After fails a push
// within RunRetryWait, with at most one POST per layer and one per wait the
// budget pays for (RunRetryWait / MaxRetryAfter). Durations are scaled down
// by 150 from the real ones (30 s per wait, 60 s in all), with which a run
// gave: one layer, 3 POSTs in 60 s; two layers, 4 POSTs in 30 s; three
// layers, 3 POSTs at once (the budget cannot pay for a third wait, and one
// failed layer stops the push). Before the budget: 36 POSTs in 270 s.
func TestPermanent429IsBounded(t *testing.T) {
	shorten(t, &MaxRetryAfter, 200*time.Millisecond)
	shorten(t, &RunRetryWait, 400*time.Millisecond)
	for _, layers := range []int{1, 2, 3} {
		t.Run(strings.Repeat("layer ", layers), func(t *testing.T) {
			reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
			reg.Inject(registrytest.Fault{Method: http.MethodPost, Kind: registrytest.KindUpload, Status: http.StatusTooManyRequests, RetryAfter: "3600"})
			s := open(t, reg.Repo(t, "app"), Client{Transport: NewTransport(nil, nil)})
			start := time.Now()
			_, err := s.Push(context.Background(), ociImage(t, layers))
			elapsed := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), "429") {
				t.Fatalf("Push = %v, want the 429", err)
			}
			if bound := RunRetryWait + time.Second; elapsed > bound {
				t.Errorf("Push failed after %s, want within %s", elapsed, bound)
			}
			posts := 0
			for _, q := range kindOf(reg, registrytest.KindUpload) {
				if q.Method == http.MethodPost {
					posts++
				}
			}
			if most := layers + int(RunRetryWait/MaxRetryAfter); posts < layers || posts > most {
				t.Errorf("%d POSTs, want %d to %d", posts, layers, most)
			}
		})
	}
}
