package resolve_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/registrytest"
	"github.com/buildercli/builder/internal/resolve"
)

// builderExe builds builder, whose hidden subcommand serves the shared Go
// build cache to the go command (the test binary cannot).
func builderExe(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "builder")
	cmd := exec.Command("go", "build", "-o", exe, "github.com/buildercli/builder/cmd/builder")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building builder: %v\n%s", err, out)
	}
	return exe
}

var cacheNote = regexp.MustCompile(`(?m)^note: .*Go build cache.*$`)

// TestResolveSharedGoCache resolves with --cache-repo: a cache that
// answers gets the outputs of the compile; one that is down gives one
// note, and the resolve compiles with go's own cache and succeeds.
func TestResolveSharedGoCache(t *testing.T) {
	self := builderExe(t)
	for _, tc := range []struct {
		name     string
		down     bool
		wantNote string // the start of the one note about the cache; "" for none
	}{
		{name: "up"},
		{name: "down", down: true, wantNote: "note: compiling without the shared Go build cache: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shop(t)
			reg := registrytest.New(t, registrytest.Config{})
			cache := registrytest.New(t, registrytest.Config{})
			if tc.down {
				cache.Close()
			}
			var log bytes.Buffer
			env := testEnv()
			env.Log, env.Self = &log, self
			var out bytes.Buffer
			o := resolve.Options{Files: []string{resolve.Stdin}, Repo: reg.Host + "/shop",
				Build: build.Request{Tag: "v1.0.0"}, CacheRepo: cache.Host + "/cache/go"}
			in := "image: ko://example.com/shop/cmd/api\n"
			if err := resolve.Resolve(context.Background(), o, strings.NewReader(in), &out, env); err != nil {
				t.Fatalf("Resolve: %v\n%s", err, log.String())
			}
			if !regexp.MustCompile(`^image: \S+/shop/api@sha256:[0-9a-f]{64}\n$`).MatchString(out.String()) {
				t.Errorf("resolved YAML: %q, want the image by digest", out.String())
			}

			var want, got []string
			if tc.wantNote != "" {
				want = []string{tc.wantNote}
			}
			for _, n := range cacheNote.FindAllString(log.String(), -1) {
				if tc.wantNote != "" && strings.HasPrefix(n, tc.wantNote) {
					n = tc.wantNote // the rest is the registry's error
				}
				got = append(got, n)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("notes about the cache (-want +got):\n%s\nlog:\n%s", diff, log.String())
			}
			if tc.down {
				return
			}
			// Each output is a tag of the cache repository, and so is the
			// index of those the build used.
			tags := 0
			for _, q := range cache.Requests() {
				if q.Kind == registrytest.KindManifestTag && q.Repo == "cache/go" && q.Served {
					tags++
				}
			}
			if tags < 2 || !strings.Contains(log.String(), "new Go build outputs") {
				t.Errorf("%d tags written to the cache repository, want the outputs and their index; log:\n%s", tags, log.String())
			}
		})
	}
}
