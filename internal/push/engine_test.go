package push_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/enginetest"
	"github.com/buildercli/builder/internal/push"
)

// loads is what a fake engine received: the request path and the image's
// digest, read from the body as a docker-archive.
type loads struct {
	path   string
	digest v1.Hash
	tags   [][]string
}

func TestEngineLoads(t *testing.T) {
	img, want := randomImage(t)
	ref := tag(t, "example.com/app:v1")
	var got loads
	host := enginetest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			if _, err := io.WriteString(w, "OK"); err != nil {
				t.Errorf("answering %s: %v", r.URL.Path, err)
			}
			return
		}
		got.path = r.Method + " " + r.URL.RequestURI()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the body: %v", err)
		}
		p := filepath.Join(t.TempDir(), "body.tar")
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Errorf("writing %s: %v", p, err)
		}
		loaded, err := tarball.ImageFromPath(p, &ref)
		if err != nil {
			t.Errorf("reading the body as a docker-archive: %v", err)
		} else {
			got.digest = digestOf(t, loaded)
		}
		got.tags = repoTags(t, p)
		if _, err := io.WriteString(w, `{"stream":"Loaded image: example.com/app:v1\n"}`); err != nil {
			t.Errorf("answering %s: %v", r.URL.Path, err)
		}
	}))
	e := push.Engine{Host: host}
	if err := e.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	var log bytes.Buffer
	if err := e.Deliver(context.Background(), build.Result{Image: img, Ref: ref}, &log); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	wantLoads := loads{path: "POST /images/load?quiet=1", digest: want, tags: [][]string{{"example.com/app:v1"}}}
	if diff := cmp.Diff(wantLoads, got, cmp.AllowUnexported(loads{})); diff != "" {
		t.Errorf("what the engine received (-want +got):\n%s", diff)
	}
	wantLog := "loaded example.com/app:v1 into the engine at " + host + " (Loaded image: example.com/app:v1)\n"
	if diff := cmp.Diff(wantLog, log.String()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestEngineErrors(t *testing.T) {
	img, _ := randomImage(t)
	ref := tag(t, "example.com/app:v1")
	answer := func(status int, body string) string {
		return enginetest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(status)
			if _, err := io.WriteString(w, body); err != nil {
				t.Errorf("answering %s: %v", r.URL.Path, err)
			}
		}))
	}
	for _, tc := range []struct {
		name, host string
		index      bool
		want       string // the error, from its start
	}{
		{name: "no engine", host: "unix:///nonexistent/docker.sock", want: "no container engine answers at unix:///nonexistent/docker.sock ("},
		{name: "ssh", host: "ssh://me@host", want: "DOCKER_HOST=ssh://me@host: builder reaches an engine over unix:// or tcp:// (without TLS) only"},
		{name: "unix without a path", host: "unix://", want: "DOCKER_HOST=unix:// names no socket"},
		{name: "index", host: "unix:///nonexistent/docker.sock", index: true, want: push.ErrLoadIndex.Error()},
		{
			name: "refused", host: answer(500, `{"cause":"x","message":"failed to load image: payload does not match:\n * oci: no\n * docker-archive: no","response":500}`),
			want: "loading into the engine at unix://",
		},
		{name: "error in the stream", host: answer(200, `{"stream":"Loading"}{"errorDetail":{"message":"no space"},"error":"no space"}`), want: "loading into the engine at unix://"},
		{name: "not JSON", host: answer(404, "page not found"), want: "loading into the engine at unix://"},
		{name: "silent", host: answer(200, ""), want: "loading into the engine at unix://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := build.Result{Image: img, Ref: ref}
			if tc.index {
				b.Image = nil
			}
			err := push.Engine{Host: tc.host}.Deliver(context.Background(), b, io.Discard)
			if err == nil {
				t.Fatalf("Deliver succeeded, want an error")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line that starts with %q", msg, tc.want)
			}
		})
	}
}

func TestEnginePingFails(t *testing.T) {
	err := push.Engine{Host: "unix:///nonexistent/docker.sock"}.Ping(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "no container engine answers at unix:///nonexistent/docker.sock") {
		t.Errorf("Ping = %v, want no engine answers", err)
	}
}
