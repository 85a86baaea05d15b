package pipeline_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/moduletest"
	"github.com/buildercli/builder/internal/push"
)

// engine is a fake Docker Engine API on a unix socket that keeps the last
// image loaded into it.
type engine struct {
	host string
	mu   sync.Mutex
	body []byte
}

func newEngine(t *testing.T) *engine {
	t.Helper()
	dir, err := os.MkdirTemp("", "engine-")
	if err != nil {
		t.Fatalf("making a socket directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listening on %s: %v", sock, err)
	}
	e := &engine{host: "unix://" + sock}
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			if _, err := io.WriteString(w, "OK"); err != nil {
				t.Errorf("answering %s: %v", r.URL.Path, err)
			}
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		e.body = body
		e.mu.Unlock()
		if _, err := io.WriteString(w, `{"stream":"Loaded image: hello:v1\n"}`); err != nil {
			t.Errorf("answering %s: %v", r.URL.Path, err)
		}
	})}
	go func() { _ = s.Serve(l) }() // http.ErrServerClosed once the cleanup closes it
	t.Cleanup(func() { s.Close() })
	return e
}

func TestLoadSendsTheImage(t *testing.T) {
	e := newEngine(t)
	pkg := moduletest.Hello(t, nil)
	o := buildOptions(pkg)
	o.OCILayout = ""
	o.Load, o.Engine = true, e.host
	o.Build.Tag = "v1"
	res, err := o.build(context.Background())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	e.mu.Lock()
	body := e.body
	e.mu.Unlock()
	var index v1.IndexManifest
	tr := tar.NewReader(bytes.NewReader(body))
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("the engine got no index.json: %v", err)
		}
		if hdr.Name == "index.json" {
			if err := json.NewDecoder(tr).Decode(&index); err != nil {
				t.Fatalf("decoding index.json: %v", err)
			}
			break
		}
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != res.Digest {
		t.Errorf("the engine got index.json %+v, want one entry, the image built, %s", index.Manifests, res.Digest)
	}
}

// --load is refused before anything is compiled when no engine answers or
// the build has several platforms.
func TestLoadRefusedBeforeCompiling(t *testing.T) {
	files := map[string]string{"hello/broken.go": "package main\n\nfunc broken() { undefined() }\n"}
	for _, tc := range []struct {
		name, platform, koYAML string
		noEngine               bool
		want                   error  // else:
		wantText               string // the start of the error
	}{
		{name: "no engine", noEngine: true, wantText: "no container engine answers at unix://"},
		{name: "two platforms", platform: "linux/amd64,linux/arm64", want: push.ErrLoadIndex},
		{name: ".ko.yaml defaultPlatforms", koYAML: "defaultPlatforms:\n- linux/amd64\n- linux/arm64\n", want: push.ErrLoadIndex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			more := map[string]string{}
			for k, v := range files {
				more[k] = v
			}
			if tc.koYAML != "" {
				more[".ko.yaml"] = tc.koYAML
			}
			pkg := moduletest.Hello(t, more)
			o := buildOptions(pkg)
			o.Build.Platform = tc.platform
			o.Load, o.Engine = true, newEngine(t).host
			if tc.noEngine {
				o.Engine = "unix://" + filepath.Join(t.TempDir(), "absent.sock")
			}
			_, err := o.build(context.Background())
			if err == nil {
				t.Fatalf("Build succeeded, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Build = %v, want %v", err, tc.want)
			}
			if tc.wantText != "" && !strings.HasPrefix(err.Error(), tc.wantText) {
				t.Errorf("Build = %v, want an error that starts %q", err, tc.wantText)
			}
			var ce *gobuild.CompileError
			if errors.As(err, &ce) {
				t.Errorf("compiled before refusing: %v", err)
			}
			if _, err := os.Stat(o.OCILayout); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists after the refusal (stat: %v)", o.OCILayout, err)
			}
		})
	}
}
