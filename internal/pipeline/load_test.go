package pipeline_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/enginetest"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/moduletest"
	"github.com/buildercli/builder/internal/pipeline"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/registrytest"
)

// engine is a fake Docker Engine API on a unix socket. It lists images by
// name (the tags of what it loaded, and what a test puts there) with their
// IDs, keeps the last archive loaded, and refuses its refuseAt-th load.
type engine struct {
	host     string
	refuseAt int
	// lookupFails answers every question about an image with a 500.
	lookupFails bool
	mu          sync.Mutex
	body        []byte
	loads       int
	images      map[string]string // name: ID
}

func newEngine(t *testing.T) *engine {
	t.Helper()
	e := &engine{images: map[string]string{}}
	e.host = enginetest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := e.serve(w, r); err != nil {
			t.Errorf("answering %s %s: %v", r.Method, r.URL, err)
		}
	}))
	return e
}

func (e *engine) serve(w http.ResponseWriter, r *http.Request) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	path := r.URL.Path
	switch {
	case path == "/_ping":
		_, err := io.WriteString(w, "OK")
		return err
	case path == "/images/load":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil
		}
		e.body = body
		e.loads++
		if e.loads == e.refuseAt {
			_, err = io.WriteString(w, `{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}`)
			return err
		}
		var said []string
		for _, m := range readArchive(body).manifest {
			for _, tag := range m.RepoTags {
				e.images[tag] = "sha256:" + strings.TrimPrefix(m.Config, "blobs/sha256/")
				said = append(said, "Loaded image: "+tag)
			}
		}
		return json.NewEncoder(w).Encode(map[string]string{"stream": strings.Join(said, "\n") + "\n"})
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/json") && e.lookupFails:
		http.Error(w, `{"message":"database is locked"}`, http.StatusInternalServerError)
		return nil
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/json"):
		id, ok := e.images[strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/json")]
		if !ok {
			http.NotFound(w, r)
			return nil
		}
		return json.NewEncoder(w).Encode(map[string]string{"Id": id})
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/tag"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/tag")
		e.images[r.URL.Query().Get("repo")+":"+r.URL.Query().Get("tag")] = id
		w.WriteHeader(http.StatusCreated)
		return nil
	case r.Method == http.MethodDelete:
		n := strings.TrimPrefix(path, "/images/")
		if _, ok := e.images[n]; !ok {
			http.NotFound(w, r)
			return nil
		}
		delete(e.images, n)
		_, err := io.WriteString(w, "[]")
		return err
	}
	http.NotFound(w, r)
	return nil
}

// list returns the images the engine lists, by name.
func (e *engine) list() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.images)
}

// archive is what a loaded archive's index.json and manifest.json say.
type archive struct {
	index    v1.IndexManifest
	manifest []struct {
		Config   string
		RepoTags []string
	}
}

// readArchive reads an archive the engine got; a part it cannot read is
// left empty, for the test to find.
func readArchive(body []byte) archive {
	var a archive
	tr := tar.NewReader(bytes.NewReader(body))
	for {
		hdr, err := tr.Next()
		if err != nil {
			return a
		}
		switch hdr.Name {
		case "index.json":
			_ = json.NewDecoder(tr).Decode(&a.index)
		case "manifest.json":
			_ = json.NewDecoder(tr).Decode(&a.manifest)
		}
	}
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
	index := readArchive(body).index
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != res.Digest {
		t.Errorf("the engine got index.json %+v, want one entry, the image built, %s", index.Manifests, res.Digest)
	}
}

// Several services are loaded one after another. When the engine refuses
// one, the tags loaded before it are put back as they were (pointed at the
// image they named, or removed), and so are the other outputs.
func TestLoadSeveralPutBack(t *testing.T) {
	t.Parallel()
	for _, refuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "loaded", true: "refused"}[refuse], func(t *testing.T) {
			t.Parallel()
			e := newEngine(t)
			if refuse {
				e.refuseAt = 2
			}
			// api is loaded first, over an image of that name.
			e.images["api:v1"] = "sha256:" + strings.Repeat("a", 64)
			before := e.list()
			o := severalIntoLayout(t)
			o.Load, o.Engine = true, e.host
			o.Build.Tag = "v1"
			res, err := pipeline.Build(context.Background(), o.Options, o.env)
			if refuse {
				checkOneLine(t, err, "the engine refused the image: no space left on device")
				if got := e.list(); !maps.Equal(got, before) {
					t.Errorf("after the refused load, the engine lists %v, want what it did before, %v", got, before)
				}
				if _, serr := os.Stat(o.OCILayout); !errors.Is(serr, os.ErrNotExist) {
					t.Errorf("after the refused load, %s is there (%v), want it put back: absent", o.OCILayout, serr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			want := map[string]string{}
			for _, r := range res {
				want[r.Ref.String()] = configID(t, r.Image)
			}
			if got := e.list(); len(want) != 2 || !maps.Equal(got, want) {
				t.Errorf("the engine lists %v, want %v", got, want)
			}
		})
	}
}

// configID is the ID an engine gives img: its config's digest.
func configID(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// publish --load of several services: a refused load puts back the
// engine's tags loaded before it, and no tag is written.
func TestPublishLoadSeveralPutBack(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	e.refuseAt = 2
	reg := registrytest.New(t, registrytest.Config{})
	root := fleet(t, nil, "api", "worker")
	o := options(filepath.Join(root, "cmd")+"/...", reg.Host+"/fleet", "v1.2.0")
	o.Load, o.Engine = true, e.host
	_, err := pipelinePublish(o)
	checkOneLine(t, err, "the engine refused the image: no space left on device")
	if got := e.list(); len(got) != 0 {
		t.Errorf("after the refused load, the engine lists %v, want nothing", got)
	}
	// An image may have been pushed, by digest, with its records.
	for _, svc := range []string{"api", "worker"} {
		if tags := tagsOf(t, reg.Direct+"/fleet/"+svc); len(tags) != 0 {
			t.Errorf("fleet/%s has tags %v after a refused load, want none", svc, tags)
		}
	}
}

// Putting an engine back leaves a tag alone once it no longer names the
// image the run loaded: there, the load never happened, and someone else
// tagged another image.
func TestEnginePutBackLeavesOthersTags(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	b := build.Result{Image: img, Digest: d, Ref: name.MustParseReference("app:v1").(name.Tag)}
	var undo push.Undo
	if err := undo.Remember(context.Background(), push.Engine{Host: e.host}, b); err != nil {
		t.Fatal(err)
	}
	others := "sha256:" + strings.Repeat("b", 64)
	e.mu.Lock()
	e.images["app:v1"] = others
	e.mu.Unlock()
	if err := undo.Restore(); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := e.list()["app:v1"]; got != others {
		t.Errorf("after the put-back, app:v1 is %q, want it left at someone else's %s", got, others)
	}
}

// An engine that cannot say what a tag names fails the build before
// anything is written, and the files kept in case of failure go.
func TestLoadLookupFails(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	e.lookupFails = true
	pkg := moduletest.Hello(t, nil)
	o := buildOptions(pkg)
	o.OCILayout = ""
	o.Tarball = filepath.Join(t.TempDir(), "app.tar")
	if err := os.WriteFile(o.Tarball, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Load, o.Engine = true, e.host
	o.Build.Tag = "v1"
	_, err := o.build(context.Background())
	checkOneLine(t, err, "asking the engine at "+e.host+" what hello:v1 is now: it answered 500")
	if data, rerr := os.ReadFile(o.Tarball); rerr != nil || string(data) != "old" {
		t.Errorf("%s holds %q (%v), want its old content", o.Tarball, data, rerr)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(o.Tarball), ".*")); len(left) != 0 {
		t.Errorf("the failed run left %v", left)
	}
}

// An index, which the engine is never sent, leaves nothing to put back.
func TestEnginePutBackOfIndex(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	b := build.Result{Index: idx, Ref: name.MustParseReference("app:v1").(name.Tag)}
	eng := push.Engine{Host: e.host}
	var undo push.Undo
	if err := undo.Remember(context.Background(), eng, b); err != nil {
		t.Fatal(err)
	}
	if err := eng.Deliver(context.Background(), b, io.Discard); !errors.Is(err, push.ErrLoadIndex) {
		t.Fatalf("Deliver of an index = %v, want %v", err, push.ErrLoadIndex)
	}
	if err := undo.Restore(); err != nil {
		t.Errorf("Restore: %v", err)
	}
}

// publish --load with no engine fails before anything is compiled or
// pushed.
func TestPublishLoadNoEngine(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	root := fleet(t, map[string]string{"cmd/broken/main.go": "package main\n\nfunc main() { undefined() }\n"}, "api")
	o := options(filepath.Join(root, "cmd")+"/...", reg.Host+"/fleet", "v1.2.0")
	o.Load, o.Engine = true, "unix://"+filepath.Join(t.TempDir(), "absent.sock")
	_, err := pipelinePublish(o)
	if err == nil || !strings.HasPrefix(err.Error(), "no container engine answers at unix://") {
		t.Fatalf("Publish = %v, want no engine", err)
	}
	if n := reg.Writes(); n != 0 {
		t.Errorf("the registry got %d writes, want none", n)
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
