package pipeline_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/buildercli/builder/internal/moduletest"
	"github.com/buildercli/builder/internal/pipeline"
	"github.com/buildercli/builder/internal/registrytest"
)

// fleetMain is a service of the fleet module: it greets with the shared
// library's word.
const fleetMain = `package main

import (
	"fmt"

	"example.com/fleet/lib"
)

func main() { fmt.Println(lib.Word) }
`

// fleet writes the module example.com/fleet, with a library and the
// services cmd/NAME for each name, plus extra files, commits it, and
// returns its root.
func fleet(t *testing.T, extra map[string]string, names ...string) string {
	t.Helper()
	files := map[string]string{
		"go.mod":     "module example.com/fleet\n\ngo 1.22\n",
		"lib/lib.go": "package lib\n\nconst Word = \"hello\"\n",
	}
	for _, n := range names {
		files["cmd/"+n+"/main.go"] = fleetMain
	}
	for k, v := range extra {
		files[k] = v
	}
	root := moduletest.Write(t, files)
	moduletest.Commit(t, root)
	return root
}

func TestPublishSeveralServices(t *testing.T) {
	t.Parallel()
	// With the referrers API, the only tags written are the release's.
	reg := registrytest.New(t, registrytest.Config{Referrers: true})
	root := fleet(t, nil, "api", "worker", "admin")
	o := options(filepath.Join(root, "cmd")+"/...", reg.Host+"/fleet", "v1.2.0")
	o.ImageRefs = filepath.Join(t.TempDir(), "refs.txt")
	results, err := pipelinePublish(o)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	var names []string
	for _, r := range results {
		names = append(names, strings.TrimPrefix(r.Repository, reg.Host+"/fleet/"))
		checkImage(t, reg.Direct+"/fleet/"+names[len(names)-1], r.Digest)
		tags := tagsOf(t, reg.Direct+strings.TrimPrefix(r.Repository, reg.Host))
		for _, tag := range []string{"v1.2.0", "v1.2", "v1", "latest"} {
			if tags[tag] != r.Digest.String() {
				t.Errorf("%s:%s = %q, want %s", r.Repository, tag, tags[tag], r.Digest)
			}
		}
	}
	if want := []string{"admin", "api", "worker"}; !slices.Equal(names, want) {
		t.Errorf("published %v, want each service under REPO/NAME: %v", names, want)
	}
	// Every image and manifest went up before the first tag.
	lastPush, firstTag := -1, -1
	for i, r := range reg.Requests() {
		switch r.Kind {
		case registrytest.KindManifestDigest, registrytest.KindUpload:
			lastPush = i
		case registrytest.KindManifestTag:
			if firstTag < 0 {
				firstTag = i
			}
		}
	}
	if firstTag < lastPush {
		t.Errorf("a tag was written (request %d) before the last image was pushed (request %d)", firstTag, lastPush)
	}
	refs, err := os.ReadFile(o.ImageRefs)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range results {
		want = append(want, r.References...)
	}
	if got := strings.Fields(string(refs)); !slices.Equal(got, want) || len(got) != 3*6 {
		t.Errorf("--image-refs holds %d references, want the 3×6 of the results:\n%s", len(got), refs)
	}
}

func TestPublishSeveralFailsBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	root := fleet(t, map[string]string{"cmd/broken/main.go": "package main\n\nfunc main() { undefined() }\n"}, "api", "worker")
	o := options(filepath.Join(root, "cmd")+"/...", reg.Host+"/fleet", "v1.2.0")
	_, err := pipelinePublish(o)
	if err == nil || !strings.Contains(err.Error(), "compiling") {
		t.Fatalf("Publish = %v, want the compile error", err)
	}
	// Layers may have been sent ahead of their images: blobs that no
	// manifest names.
	if n := reg.Count(registrytest.KindManifestDigest) + reg.Count(registrytest.KindManifestTag); n != 0 {
		t.Errorf("the registry got %d manifests, want none: a service that does not compile fails the run before any image is pushed", n)
	}
}

// TestPublishSeveralFailsAfterOthersBuilt: the images of the services that
// compiled are made while another still compiles, but none is pushed when
// it then fails. The broken service is compiled apart (its flags
// differ), and only once the others' binaries are in place, 3 s later.
func TestPublishSeveralFailsAfterOthersBuilt(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	cacheDir := t.TempDir()
	script := filepath.Join(t.TempDir(), "toolexec")
	body := `#!/bin/sh
case "$*" in *cmd/broken*)
	i=0
	while [ $i -lt 600 ]; do
		n=$(find ` + cacheDir + ` -type f \( -name api -o -name worker \) ! -path '*/.go-build-*' | wc -l)
		[ "$n" -ge 2 ] && break
		sleep 0.1; i=$((i+1))
	done
	sleep 3
esac
exec "$@"
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	settings := "builds:\n- id: broken\n  main: ./cmd/broken\n  flags: [-toolexec=" + script + "]\n"
	root := fleet(t, map[string]string{
		".ko.yaml":           settings,
		"cmd/broken/main.go": "package main\n\nfunc main() { undefined() }\n",
	}, "api", "worker")
	o := options(filepath.Join(root, "cmd")+"/...", reg.Host+"/fleet", "v1.2.0")
	o.env.Cache.Dir = cacheDir
	_, err := pipelinePublish(o)
	if err == nil || !strings.Contains(err.Error(), "compiling") {
		t.Fatalf("Publish = %v, want the compile error", err)
	}
	// Layers may have been sent ahead of their images: blobs that no
	// manifest names.
	if n := reg.Count(registrytest.KindManifestDigest) + reg.Count(registrytest.KindManifestTag); n != 0 {
		t.Errorf("the registry got %d manifests, want none: a service that does not compile fails the run before any image is pushed", n)
	}
}

func TestSeveralServicesOneName(t *testing.T) {
	t.Parallel()
	root := fleet(t, map[string]string{"other/api/main.go": fleetMain}, "api")
	o := buildOptions(filepath.Join(root, "cmd", "api"))
	o.Paths = append(o.Paths, filepath.Join(root, "other", "api"))
	o.Build.Repo = "registry.example/fleet"
	_, err := o.build(context.Background())
	checkOneLine(t, err, "example.com/fleet/cmd/api and example.com/fleet/other/api would both be registry.example/fleet/api: give one another name")
}

// severalIntoLayout builds two services, api and worker, into a new
// layout directory.
func severalIntoLayout(t *testing.T) buildTest {
	t.Helper()
	root := fleet(t, nil, "api", "worker")
	o := buildOptions(filepath.Join(root, "cmd", "api"))
	o.Paths = []string{filepath.Join(root, "cmd") + "/..."}
	o.OCILayout = filepath.Join(t.TempDir(), "out")
	return o
}

func TestBuildSeveralIntoLayouts(t *testing.T) {
	t.Parallel()
	o := severalIntoLayout(t)
	if _, err := o.build(context.Background()); err != nil {
		t.Fatalf("Build: %v", err)
	}
	for _, n := range []string{"api", "worker"} {
		p, err := layout.FromPath(filepath.Join(o.OCILayout, n))
		if err != nil {
			t.Fatalf("layout of %s: %v", n, err)
		}
		idx, err := p.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil || len(m.Manifests) != 1 {
			t.Fatalf("layout of %s holds %v (%v), want one image", n, m, err)
		}
	}
}

// pipelinePublish runs the publish o describes, with every service's result.
func pipelinePublish(o testOptions) ([]pipeline.Result, error) {
	return pipeline.Publish(context.Background(), o.PublishOptions, o.env)
}

// TestPublishSeveralTagFailure: when one service's version tag is refused,
// no floating tag has moved anywhere; the other keeps its immutable version
// tag, and the results say so.
func TestPublishSeveralTagFailure(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{Referrers: true})
	root := fleet(t, nil, "api", "worker")
	reg.Inject(registrytest.Fault{Method: http.MethodPut, Kind: registrytest.KindManifestTag, Skip: 1, N: 1, Status: http.StatusForbidden})
	o := options(filepath.Join(root, "cmd")+"/...", reg.Host+"/fleet", "v1.2.0")
	results, err := pipelinePublish(o)
	if err == nil {
		t.Fatal("Publish succeeded with a tag refused")
	}
	// The version tags are written at once: one of the two is refused.
	if len(results) != 2 {
		t.Fatalf("%d results, want 2", len(results))
	}
	versions := 0
	for i, svc := range []string{"api", "worker"} {
		tags := tagsOf(t, reg.Direct+"/fleet/"+svc)
		switch {
		case len(tags) == 1 && tags["v1.2.0"] != "":
			versions++
		case len(tags) != 0:
			t.Errorf("%s has tags %v; want its version tag alone, or none", svc, tags)
		}
		var have []string
		for tag := range tags {
			have = append(have, tag)
		}
		if w := results[i].Written; w == nil || !slices.Equal(w.Written, have) {
			t.Errorf("%s: the result says %+v, the registry has %v", svc, w, have)
		}
	}
	if versions != 1 {
		t.Errorf("%d services have their version tag, want 1", versions)
	}
}

// TestBuildSeveralLayoutsAgain: a second build of several services into
// the same directory replaces their entries; a directory that is a layout
// itself, or a service's directory that is not one, is refused before
// anything is built.
func TestBuildSeveralLayoutsAgain(t *testing.T) {
	t.Parallel()
	o := severalIntoLayout(t)
	for range 2 {
		if _, err := o.build(context.Background()); err != nil {
			t.Fatalf("Build: %v", err)
		}
	}
	layoutDir := filepath.Join(o.OCILayout, "api")
	bad := o
	bad.OCILayout = layoutDir
	_, err := bad.build(context.Background())
	checkOneLine(t, err, "is an OCI image layout, and several services write a layout each inside it")

	if err := os.RemoveAll(filepath.Join(o.OCILayout, "worker")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(o.OCILayout, "worker", "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = o.build(context.Background())
	checkOneLine(t, err, "not an OCI image layout")
}

// TestSeveralServicesNoteOnce: a note true of every service of a run is
// written once, not once a service.
func TestSeveralServicesNoteOnce(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	settings := "builds:\n"
	for _, n := range []string{"api", "worker", "admin"} {
		settings += "- main: ./cmd/" + n + "\n  builder:\n    healthcheck: {command: [healthcheck]}\n"
	}
	root := fleet(t, map[string]string{".ko.yaml": settings}, "api", "worker", "admin")
	o := options(filepath.Join(root, "cmd")+"/...", reg.Host+"/fleet", "v1.2.0")
	var log lockedBuffer
	o.env.Log = &log
	if _, err := pipelinePublish(o); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if n := strings.Count(log.String(), "podman ignores the HEALTHCHECK"); n != 1 {
		t.Errorf("the HEALTHCHECK note was written %d times, want once:\n%s", n, log.String())
	}
}

// lockedBuffer is a buffer several goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPublishRefusedSaysOnlyThat: when a registry refuses, the error is
// all a publish says, one service or several: what planning noted is
// held until every repository has answered.
func TestPublishRefusedSaysOnlyThat(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	reg.RequireAuth("ci", "secret")
	settings := "builds:\n"
	for _, n := range []string{"api", "worker"} {
		settings += "- main: ./cmd/" + n + "\n  builder:\n    healthcheck: {command: [healthcheck]}\n"
	}
	root := fleet(t, map[string]string{".ko.yaml": settings}, "api", "worker")
	for _, paths := range [][]string{{filepath.Join(root, "cmd", "api")}, {filepath.Join(root, "cmd") + "/..."}} {
		o := options("", reg.Host+"/fleet", "v1.2.0")
		o.Paths = paths
		var log lockedBuffer
		o.env.Log = &log
		if _, err := pipelinePublish(o); err == nil {
			t.Fatalf("publishing %v to a registry that refuses succeeded", paths)
		}
		if log.String() != "" {
			t.Errorf("publishing %v said more than its error:\n%s", paths, log.String())
		}
	}
	if n := reg.Writes(); n != 0 {
		t.Errorf("the refused publishes wrote %d times", n)
	}
}

// TestPublishPlanErrorKeepsNotes: what planning noted is printed when
// planning then fails, as it may explain the error.
func TestPublishPlanErrorKeepsNotes(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	// goarch is ko's and ignored; an HTTP healthcheck on no port fails.
	settings := "builds:\n- main: ./cmd/api\n  goarch: [arm64]\n  builder:\n    healthcheck: {http: /healthz}\n"
	root := fleet(t, map[string]string{".ko.yaml": settings}, "api")
	o := options(filepath.Join(root, "cmd", "api"), reg.Host+"/fleet", "v1.2.0")
	var log lockedBuffer
	o.env.Log = &log
	if _, err := pipelinePublish(o); err == nil {
		t.Fatal("publish succeeded with a healthcheck on no port")
	}
	if !strings.Contains(log.String(), "builder ignores builds[0].goarch") {
		t.Errorf("the note on the ignored setting was not printed:\n%s", log.String())
	}
}

// TestPublishSeveralReleasedVersion: each image is pushed as soon as it is
// made, but not when a version tag the release writes exists: then a
// service that would repoint it stops the run before anything is pushed,
// new services' images included.
func TestPublishSeveralReleasedVersion(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{Referrers: true})
	root := fleet(t, nil, "worker")
	o := options(filepath.Join(root, "cmd")+"/...", reg.Host+"/fleet", "v1.2.0")
	if _, err := pipelinePublish(o); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "lib", "lib.go"), []byte("package lib\n\nconst Word = \"changed\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// New services, made before worker (the plans go in name order).
	for _, name := range []string{"admin", "api", "batch"} {
		if err := os.MkdirAll(filepath.Join(root, "cmd", name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "cmd", name, "main.go"), []byte(fleetMain), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	moduletest.Commit(t, root)
	reg.Reset()
	_, err := pipelinePublish(o)
	if err == nil || !strings.Contains(err.Error(), "v1.2.0 already points at") {
		t.Fatalf("Publish of v1.2.0 again, changed = %v, want it refused", err)
	}
	if n := reg.Writes(); n != 0 {
		t.Errorf("the registry got %d writes, want none: new services were pushed before worker's release was found to differ", n)
	}
	// Not even begun: a push starts by asking for its manifest.
	for _, q := range reg.Requests() {
		if q.Kind != registrytest.KindTagList && q.Kind != registrytest.KindPing && q.Repo != "fleet/worker" {
			t.Errorf("%s %s of %s: a new service's push began before worker's release was found to differ", q.Method, q.Kind, q.Repo)
		}
	}
}
