package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
)

// testRouter is a router from newRouter with its readiness flag and logs.
type testRouter struct {
	engine   *gin.Engine
	draining *atomic.Bool
	logs     *bytes.Buffer
}

func newTestRouter(t *testing.T) testRouter {
	t.Helper()
	tr := testRouter{draining: new(atomic.Bool), logs: new(bytes.Buffer)}
	logger := slog.New(slog.NewJSONHandler(tr.logs, nil))
	tr.engine = newRouter(logger, newRegistry(), tr.draining)
	return tr
}

// do serves one request on r and returns the recorded response.
func do(t *testing.T, r http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

type response struct {
	Status int
	Body   string
}

func TestRoutes(t *testing.T) {
	r := newTestRouter(t).engine
	for _, tc := range []struct {
		path string
		want response
	}{
		{"/ping", response{200, `{"message":"pong"}`}},
		{"/healthz", response{200, `{"status":"ok"}`}},
		{"/readyz", response{200, `{"status":"ready"}`}},
		{"/version", response{200, fmt.Sprintf(`{"commit":"unknown","date":"unknown","go":%q,"version":"dev"}`, runtime.Version())}},
		{"/nope", response{404, `{"error":"not found"}`}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			w := do(t, r, http.MethodGet, tc.path)
			got := response{w.Code, w.Body.String()}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("GET %s mismatch (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func TestReadyzDraining(t *testing.T) {
	tr := newTestRouter(t)
	if w := do(t, tr.engine, http.MethodGet, "/readyz"); w.Code != http.StatusOK {
		t.Fatalf("GET /readyz before draining = %d, want 200", w.Code)
	}
	tr.draining.Store(true)
	w := do(t, tr.engine, http.MethodGet, "/readyz")
	want := response{503, `{"status":"shutting down"}`}
	if diff := cmp.Diff(want, response{w.Code, w.Body.String()}); diff != "" {
		t.Errorf("GET /readyz while draining mismatch (-want +got):\n%s", diff)
	}
}

func TestMetrics(t *testing.T) {
	r := newTestRouter(t).engine
	do(t, r, http.MethodGet, "/ping")
	do(t, r, http.MethodGet, "/ping")
	do(t, r, http.MethodGet, "/no/such/page")
	do(t, r, "BREW", "/ping")
	w := do(t, r, http.MethodGet, "/metrics")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{
		`http_requests_total{code="200",method="GET",route="/ping"} 2`,
		`http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`http_requests_total{code="404",method="other",route="unmatched"} 1`,
		`http_request_duration_seconds_bucket{code="200",method="GET",route="/ping",le="+Inf"} 2`,
		`http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`,
		"\ngo_goroutines ",
		"\nprocess_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics body lacks %q", want)
		}
	}
	if strings.Contains(body, "/no/such/page") {
		t.Errorf("GET /metrics body has the raw path of an unmatched request, want only %q", unmatchedRoute)
	}
}
