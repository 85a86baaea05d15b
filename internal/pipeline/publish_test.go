package pipeline_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/moduletest"
	"github.com/buildercli/builder/internal/pipeline"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
	"github.com/buildercli/builder/internal/release"
)

// hello writes the module of moduletest.Hello, with extra files, as a
// clean git checkout, and returns the package directory and its git-<commit>
// tag.
func hello(t *testing.T, extra map[string]string) (string, string) {
	t.Helper()
	pkg := moduletest.Hello(t, extra)
	return pkg, "git-" + moduletest.Commit(t, filepath.Dir(pkg))
}

// committed is hello's package directory alone.
func committed(t *testing.T, extra map[string]string) string {
	t.Helper()
	pkg, _ := hello(t, extra)
	return pkg
}

// testOptions are one publish's options and environment.
type testOptions struct {
	pipeline.PublishOptions
	env build.Env
}

// options publish the package pkg as version to repo, anonymously, with
// a client as builder makes one for a run.
func options(pkg, repo, version string) testOptions {
	c := registry.New(nil)
	c.Keychain = registrytest.Anonymous
	o := testOptions{env: build.Env{HostArch: runtime.GOARCH, Environ: os.Environ(), Log: io.Discard, Registry: c}}
	o.Paths, o.Build.Tag, o.Repo = []string{pkg}, version, repo
	return o
}

func (o testOptions) publish(ctx context.Context) (pipeline.Result, error) {
	res, err := pipeline.Publish(ctx, o.PublishOptions, o.env)
	if len(res) == 0 {
		return pipeline.Result{}, err
	}
	return res[0], err
}

func run(t *testing.T, o testOptions) pipeline.Result {
	t.Helper()
	res, err := o.publish(context.Background())
	if err != nil {
		t.Fatalf("publishing %s to %s: %v", o.Build.Tag, o.Repo, err)
	}
	return res
}

// tagsOf returns each tag of repo with the digest it points at, asking the
// registry directly; a repository that does not exist has none. The tags of
// supply-chain records (sha256-<digest>, the referrers fallback) are left out: they are
// tested on their own.
func tagsOf(t *testing.T, repo string) map[string]string {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatalf("NewRepository(%q): %v", repo, err)
	}
	out := map[string]string{}
	list, err := remote.List(r, remote.WithAuth(authn.Anonymous))
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == 404 {
		return out
	}
	if err != nil {
		t.Fatalf("listing tags of %s: %v", repo, err)
	}
	for _, tag := range list {
		if strings.HasPrefix(tag, "sha256-") {
			continue
		}
		desc, err := remote.Head(r.Tag(tag), remote.WithAuth(authn.Anonymous))
		if err != nil {
			t.Fatalf("resolving %s:%s: %v", repo, tag, err)
		}
		out[tag] = desc.Digest.String()
	}
	return out
}

// checkImage fetches repo@d and validates it, blobs included.
func checkImage(t *testing.T, repo string, d v1.Hash) {
	t.Helper()
	ref, err := name.NewDigest(repo + "@" + d.String())
	if err != nil {
		t.Fatalf("NewDigest: %v", err)
	}
	img, err := remote.Image(ref, remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatalf("fetching %s: %v", ref, err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validating %s: %v", ref, err)
	}
}

// checkOneLine fails unless err is a one-line error mentioning want.
func checkOneLine(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", want)
	}
	msg := err.Error()
	if !strings.Contains(msg, want) || strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error = %q, want one line mentioning %q", msg, want)
	}
}

func TestPublishTags(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	pkg, gitTag := hello(t, nil)
	repo, direct := reg.Host+"/app", reg.Direct+"/app"
	digests := map[string]string{} // version → the digest it published
	for _, step := range []struct {
		version   string
		extra     []string
		wantMoved []string
		wantLeft  []release.Left
		// want maps every tag of the repository to the version it names.
		want map[string]string
	}{{
		version:   "v1.2.0",
		wantMoved: []string{"v1.2.0", gitTag, "v1.2", "v1", "latest"},
		want: map[string]string{"v1.2.0": "v1.2.0", gitTag: "v1.2.0",
			"v1.2": "v1.2.0", "v1": "v1.2.0", "latest": "v1.2.0"},
	}, {
		version:   "v1.1.5",
		wantMoved: []string{"v1.1.5", gitTag, "v1.1"},
		wantLeft:  []release.Left{{Tag: "v1", Newer: "v1.2.0"}, {Tag: "latest", Newer: "v1.2.0"}},
		want: map[string]string{"v1.2.0": "v1.2.0", "v1.2": "v1.2.0", "v1": "v1.2.0", "latest": "v1.2.0",
			"v1.1.5": "v1.1.5", "v1.1": "v1.1.5", gitTag: "v1.1.5"},
	}, {
		version:   "v1.3.0-rc.1",
		wantMoved: []string{"v1.3.0-rc.1", gitTag},
		want: map[string]string{"v1.2.0": "v1.2.0", "v1.2": "v1.2.0", "v1": "v1.2.0", "latest": "v1.2.0",
			"v1.1.5": "v1.1.5", "v1.1": "v1.1.5", "v1.3.0-rc.1": "v1.3.0-rc.1", gitTag: "v1.3.0-rc.1"},
	}, {
		version:   "v1.2.1",
		extra:     []string{"stable", "edge"},
		wantMoved: []string{"v1.2.1", gitTag, "stable", "edge", "v1.2", "v1", "latest"},
		want: map[string]string{"v1.2.0": "v1.2.0", "v1.1.5": "v1.1.5", "v1.1": "v1.1.5", "v1.3.0-rc.1": "v1.3.0-rc.1",
			"v1.2.1": "v1.2.1", gitTag: "v1.2.1", "stable": "v1.2.1", "edge": "v1.2.1",
			"v1.2": "v1.2.1", "v1": "v1.2.1", "latest": "v1.2.1"},
	}} {
		t.Run(step.version, func(t *testing.T) {
			o := options(pkg, repo, step.version)
			o.ExtraTags = step.extra
			res := run(t, o)
			digests[step.version] = res.Digest.String()
			if diff := cmp.Diff(step.wantMoved, res.Moved); diff != "" {
				t.Errorf("tags moved (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(step.wantLeft, res.Left, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("tags left (-want +got):\n%s", diff)
			}
			if res.Version != step.version || res.Ref.String() != repo+"@"+res.Digest.String() {
				t.Errorf("result names %s, %s; want %s, %s@%s", res.Version, res.Ref, step.version, repo, res.Digest)
			}
			want := map[string]string{}
			for tag, version := range step.want {
				want[tag] = digests[version]
			}
			if diff := cmp.Diff(want, tagsOf(t, direct)); diff != "" {
				t.Errorf("tags of the repository → digest (-want +got):\n%s", diff)
			}
			checkImage(t, direct, res.Digest)
		})
	}
	if len(digests) != 4 || digests["v1.2.0"] == digests["v1.1.5"] {
		t.Errorf("versions should give distinct images: %v", digests)
	}
}

func TestPublishDirty(t *testing.T) {
	t.Parallel()
	pkg := committed(t, nil)
	main := filepath.Join(pkg, "main.go")
	data, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(main, append(data, "// changed\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		reg := registrytest.New(t, registrytest.Config{})
		o := options(pkg, reg.Host+"/app", "v1.0.0")
		_, err := o.publish(context.Background())
		if !errors.Is(err, pipeline.ErrDirty) {
			t.Fatalf("Run = %v, want ErrDirty", err)
		}
		checkOneLine(t, err, "--allow-dirty")
		if n := len(reg.Requests()); n != 0 {
			t.Errorf("a refused publish made %d requests", n)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		t.Parallel()
		reg := registrytest.New(t, registrytest.Config{})
		o := options(pkg, reg.Host+"/app", "v1.0.0")
		o.AllowDirty = true
		res := run(t, o)
		if diff := cmp.Diff([]string{"v1.0.0", "v1.0", "v1", "latest"}, res.Moved); diff != "" {
			t.Errorf("tags moved (-want +got):\n%s", diff)
		}
		d := res.Digest.String()
		want := map[string]string{"v1.0.0": d, "v1.0": d, "v1": d, "latest": d}
		if diff := cmp.Diff(want, tagsOf(t, reg.Direct+"/app")); diff != "" {
			t.Errorf("tags of the repository (-want +got):\n%s", diff)
		}
	})
}

func TestPublishRepublishUploadsNothing(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	o := options(committed(t, nil), reg.Host+"/app", "v1.0.0")
	first := run(t, o)
	if first.Sizes.Uploaded == 0 || first.Push.Uploaded != first.Push.Layers {
		t.Errorf("first publish: %+v, %+v; want every layer uploaded", first.Sizes, first.Push)
	}
	reg.Reset()
	second := run(t, o)
	if second.Digest != first.Digest {
		t.Errorf("the same options gave %s, then %s", first.Digest, second.Digest)
	}
	if second.Sizes.Uploaded != 0 {
		t.Errorf("republishing uploaded %d bytes, want 0", second.Sizes.Uploaded)
	}
	if want := (registry.Stats{Layers: first.Push.Layers, Existing: first.Push.Layers}); second.Push != want {
		t.Errorf("republish stats = %+v, want %+v", second.Push, want)
	}
	if n := reg.Count(registrytest.KindUpload); n != 0 {
		t.Errorf("republishing made %d blob upload requests, want 0", n)
	}
	if diff := cmp.Diff(first.Moved, second.Moved); diff != "" {
		t.Errorf("tags of the second publish (-first +second):\n%s", diff)
	}
}

func TestPublishKeepsReleasedVersion(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	other, err := random.Image(512, 1)
	if err != nil {
		t.Fatalf("random.Image: %v", err)
	}
	od := reg.Push(t, "app:v1.2.0", other)

	_, err = options(committed(t, nil), reg.Host+"/app", "v1.2.0").publish(context.Background())
	checkOneLine(t, err, "not overwritten")
	if diff := cmp.Diff(map[string]string{"v1.2.0": od.String()}, tagsOf(t, reg.Direct+"/app")); diff != "" {
		t.Errorf("tags after the refusal (-want +got):\n%s", diff)
	}
	if n := reg.Writes(); n != 0 {
		t.Errorf("the refused publish made %d write requests", n)
	}
}

func TestPublishValidatesFirst(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	// A package that does not compile: an error about it means the
	// options were not checked first.
	pkg := committed(t, map[string]string{"hello/broken.go": "package main\n\nfunc broken() { undefined() }\n"})
	for _, tc := range []struct {
		name   string
		change func(o *testOptions)
		want   string
	}{
		{"no version", func(o *testOptions) { o.Build.Tag = "" }, "no version to publish"},
		{"not SemVer", func(o *testOptions) { o.Build.Tag = "1.2" }, `"1.2" is not a SemVer 2.0 version`},
		{"a bare major", func(o *testOptions) { o.Build.Tag = "v1" }, "not a SemVer 2.0 version"},
		{"build metadata", func(o *testOptions) { o.Build.Tag = "v1.2.0+meta" }, "build metadata"},
		{"no repository", func(o *testOptions) { o.Repo = "" }, "no repository to publish to"},
		{"an invalid repository", func(o *testOptions) { o.Repo = reg.Host + "/App" }, "not a valid image name"},
		{"an invalid extra tag", func(o *testOptions) { o.ExtraTags = []string{"stable", "-bad"} }, "--extra-tag"},
		{"an extra tag with a space", func(o *testOptions) { o.ExtraTags = []string{"two words"} }, "not a valid image tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.Reset()
			o := options(pkg, reg.Host+"/app", "v1.2.0")
			tc.change(&o)
			_, err := o.publish(context.Background())
			checkOneLine(t, err, tc.want)
			var ce *gobuild.CompileError
			if errors.As(err, &ce) {
				t.Errorf("the package was compiled before the options were checked: %v", err)
			}
			if n := len(reg.Requests()); n != 0 {
				t.Errorf("invalid options made %d requests", n)
			}
		})
	}
	t.Run("valid options reach the compiler", func(t *testing.T) {
		_, err := options(pkg, reg.Host+"/app", "v1.2.0").publish(context.Background())
		var ce *gobuild.CompileError
		if !errors.As(err, &ce) {
			t.Errorf("Run = %v, want the compile error the cases above rely on", err)
		}
	})
}

// TestConcurrentPublishes publishes several versions to one repository at
// once, in shuffled orders: every floating tag ends on the highest release
// in its range, and every version tag on its own image.
func TestConcurrentPublishes(t *testing.T) {
	t.Parallel()
	pkg := committed(t, nil)
	versions := []string{"v1.3.0", "v1.2.0", "v1.2.1", "v1.1.0"}
	for round := range 3 {
		reg := registrytest.New(t, registrytest.Config{})
		repo := reg.Host + "/app"
		order := slices.Clone(versions)
		rand.New(rand.NewPCG(uint64(round), 7)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		digests := map[string]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, v := range order {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := options(pkg, repo, v).publish(context.Background())
				if err != nil {
					t.Errorf("round %d, %s: %v", round, v, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				digests[v] = res.Digest.String()
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		got := tagsOf(t, reg.Direct+"/app")
		for tag, v := range map[string]string{"latest": "v1.3.0", "v1": "v1.3.0", "v1.3": "v1.3.0", "v1.2": "v1.2.1", "v1.1": "v1.1.0",
			"v1.3.0": "v1.3.0", "v1.2.0": "v1.2.0", "v1.2.1": "v1.2.1", "v1.1.0": "v1.1.0"} {
			if got[tag] != digests[v] {
				t.Errorf("round %d (order %v): %s points at %s, want %s's %s", round, order, tag, got[tag], v, digests[v])
			}
		}
	}
}

// TestPublishPartialTags: when the registry refuses some tags, the result
// says exactly which were written and which were not, and the registry
// holds just those.
func TestPublishPartialTags(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	pkg, gitTag := hello(t, nil)
	o := options(pkg, reg.Host+"/app", "v1.2.0")
	o.SBOM, o.Provenance = pipeline.None, pipeline.None
	o.Tarball = filepath.Join(t.TempDir(), "app.tar")
	reg.Inject(registrytest.Fault{Method: http.MethodPut, Kind: registrytest.KindManifestTag, N: 2, Status: http.StatusForbidden})
	res, err := o.publish(context.Background())
	if err == nil {
		t.Fatal("publish worked, want an error for the refused tags")
	}
	if _, err := os.Stat(o.Tarball); !os.IsNotExist(err) {
		t.Errorf("a failed publish left its tarball (stat: %v)", err)
	}
	w := res.Written
	if w == nil || len(w.Failed) != 2 || len(w.Written) != 3 || w.Failed[0] != "v1.2.0" {
		t.Fatalf("written %+v, want the version and one more refused, three written (%v)", w, err)
	}
	for _, tag := range w.Failed {
		if !strings.Contains(err.Error(), tag) {
			t.Errorf("error %q does not name the refused tag %s", err, tag)
		}
	}
	got := tagsOf(t, reg.Direct+"/app")
	want := map[string]string{}
	for _, tag := range w.Written {
		want[tag] = res.Digest.String()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tags of the repository (-want +got):\n%s", diff)
	}
	if !slices.Contains(append(w.Written, w.Failed...), gitTag) {
		t.Errorf("%s is neither written nor failed: %+v", gitTag, w)
	}
}
