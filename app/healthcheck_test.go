package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	live := httptest.NewServer(newTestRouter(t).engine)
	t.Cleanup(live.Close)
	unhealthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(unhealthy.Close)
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hung.Close)

	for _, tc := range []struct {
		name    string
		url     string
		wantErr bool
	}{
		{name: "live", url: live.URL + "/healthz"},
		{name: "not 200", url: unhealthy.URL + "/healthz", wantErr: true},
		{name: "timeout", url: hung.URL + "/healthz", wantErr: true},
		{name: "dead port", url: url("127.0.0.1:"+strconv.Itoa(freePort(t)), "/healthz"), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := healthcheck(context.Background(), tc.url, 200*time.Millisecond)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Errorf("healthcheck(%s) = %v, want error: %t", tc.url, err, tc.wantErr)
			}
		})
	}
}
