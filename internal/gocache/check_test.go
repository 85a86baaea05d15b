package gocache

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildercli/builder/internal/registrytest"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(r *registrytest.Registry)
		want  string // in the error; "" for none
	}{
		{"ok", func(*registrytest.Registry) {}, ""},
		{"down", func(r *registrytest.Registry) { r.Close() }, "cannot reach registry"},
		{"401", func(r *registrytest.Registry) { r.RequireAuth("u", "p") }, "401"},
		{"tags 500", func(r *registrytest.Registry) {
			r.Inject(registrytest.Fault{Kind: registrytest.KindTagList, Status: http.StatusInternalServerError})
		}, "reading the Go build cache"},
		{"upload 403", func(r *registrytest.Registry) {
			r.Inject(registrytest.Fault{Kind: registrytest.KindUpload, Status: http.StatusForbidden})
		}, "writing the Go build cache"},
		{"stalled", func(r *registrytest.Registry) {
			r.Inject(registrytest.Fault{Kind: registrytest.KindTagList, Stall: true})
		}, "deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(d time.Duration) { CheckTimeout = d }(CheckTimeout)
			CheckTimeout = time.Second
			r := registrytest.New(t, registrytest.Config{})
			tc.spoil(r)
			start := time.Now()
			err := remoteStore(t, r).Check(context.Background())
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Check took %v", d)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("Check = %v, want one line mentioning %q", err, tc.want)
			}
			t.Logf("Check: %v", err)
		})
	}
}

func TestUploadConcurrently(t *testing.T) {
	r := registrytest.New(t, registrytest.Config{})
	s := remoteStore(t, r)
	c := startServe(t, s)
	bodies := map[string][]byte{}
	for i := range 20 {
		a := strings.Repeat("x", i)
		bodies[a] = []byte("output " + a)
		if res := c.put(int64(i+1), actionID(a), bodies[a]); res.Err != "" {
			t.Fatalf("put: %s", res.Err)
		}
	}
	if err := c.close(100); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	var wg sync.WaitGroup
	stats := make([]UploadStats, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { stats[i], errs[i] = s.Upload(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Upload %d: %v", i, err)
		}
	}
	if n := stats[0].Entries + stats[1].Entries; n < len(bodies) {
		t.Errorf("Uploads sent %+v, want %d entries in all", stats, len(bodies))
	}
	if files := filesUnder(t, s.Dir+"/"+pendingDir); len(files) != 0 {
		t.Errorf("markers left: %v", files)
	}
	// Every entry is in Repo: a new Dir gets them all.
	c = startServe(t, remoteStore(t, r))
	id := int64(1)
	for a, body := range bodies {
		checkHit(t, c.get(id, actionID(a)), body)
		id++
	}
	if err := c.close(id); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
