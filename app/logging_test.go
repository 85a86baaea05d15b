package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
)

func TestLogRequests(t *testing.T) {
	tr := newTestRouter(t)
	tr.engine.GET("/panic", func(*gin.Context) { panic("boom") })

	for _, tc := range []struct {
		name   string
		method string
		path   string
		want   []map[string]any
	}{
		{
			name: "ok", method: http.MethodGet, path: "/ping",
			want: []map[string]any{requestLine("INFO", "GET", "/ping", "/ping", 200, 18)},
		},
		{
			name: "not found", method: http.MethodPost, path: "/x/y",
			want: []map[string]any{requestLine("INFO", "POST", "unmatched", "/x/y", 404, 21)},
		},
		{
			name: "panic", method: http.MethodGet, path: "/panic",
			want: []map[string]any{
				{"level": "ERROR", "msg": "panic", "panic": "boom", "path": "/panic", "stack": true},
				requestLine("ERROR", "GET", "/panic", "/panic", 500, 0),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr.logs.Reset()
			do(t, tr.engine, tc.method, tc.path)
			got := logLines(t, tr.logs.String())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s %s log lines mismatch (-want +got):\n%s", tc.method, tc.path, diff)
			}
		})
	}
}

// requestLine is the expected log line of one request, as normalized by logLines.
func requestLine(level, method, route, path string, status, bytes int) map[string]any {
	return map[string]any{
		"level": level, "msg": "request", "method": method, "route": route, "path": path,
		"status": float64(status), "bytes": float64(bytes), "latency_ms": true,
	}
}

// logLines decodes JSON log lines, dropping "time" and replacing a
// non-negative "latency_ms" and a non-empty "stack" with true.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("decoding log line %q: %v", sc.Text(), err)
		}
		delete(m, "time")
		if v, ok := m["latency_ms"].(float64); ok && v >= 0 {
			m["latency_ms"] = true
		}
		if v, ok := m["stack"].(string); ok && v != "" {
			m["stack"] = true
		}
		lines = append(lines, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading log lines: %v", err)
	}
	return lines
}
