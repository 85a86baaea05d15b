package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/buildercli/builder/internal/moduletest"
)

// koRef is a string that starts ko://, as left unresolved.
var koRef = regexp.MustCompile(`(: |")ko://`)

// pushedRef is an image reference either tool wrote: ko names the image
// REPO/NAME-<md5 of the import path>, builder REPO/NAME.
var pushedRef = regexp.MustCompile(`127\.0\.0\.1:\d+/(?:ko|builder)/(api|worker)(?:-[0-9a-f]{32})?@sha256:[0-9a-f]{64}`)

// TestKoResolveAcceptsSameYAML: the ko the bench pins (bench/go.mod)
// resolves the YAML builder resolve takes, replacing the same references
// (each package's by one digest) and keeping the rest as builder does.
func TestKoResolveAcceptsSameYAML(t *testing.T) {
	b := built(t)
	ko, reg, baseRef, p := koWithBase(t, b)
	root := moduletest.Shop(t)
	home := t.TempDir()
	env := []string{"HOME=" + home, "DOCKER_CONFIG=" + home, "BUILDER_CACHE=" + filepath.Join(home, "cache"),
		"KOCACHE=" + filepath.Join(home, "kocache"), "KO_DEFAULTBASEIMAGE=" + baseRef.String()}

	koOut, stderr, err := invocation{Dir: root, Timeout: buildTimeout, Env: append(env, "KO_DOCKER_REPO="+reg.host+"/ko")}.
		run(ko, "resolve", "--platform", p.String(), "-f", "deploy.yaml")
	if err != nil {
		t.Fatalf("ko resolve -f deploy.yaml: %v\n%s", err, stderr)
	}
	ours, stderr, err := invocation{Dir: root, Timeout: buildTimeout, Env: env}.
		run(b.builder, "resolve", "--platform", p.String(), "--repo", reg.host+"/builder", "-f", "deploy.yaml")
	if err != nil {
		t.Fatalf("builder resolve -f deploy.yaml: %v\n%s", err, stderr)
	}

	for tool, out := range map[string]string{"ko": koOut, "builder": ours} {
		if koRef.MatchString(out) {
			t.Errorf("%s resolve left a ko:// reference:\n%s", tool, out)
		}
		refs := pushedRef.FindAllStringSubmatch(out, -1)
		byName := map[string]string{}
		for _, m := range refs {
			if prev, ok := byName[m[1]]; ok && prev != m[0] {
				t.Errorf("%s resolve gave %s two references: %s and %s", tool, m[1], prev, m[0])
			}
			byName[m[1]] = m[0]
		}
		if len(refs) != 3 || len(byName) != 2 {
			t.Errorf("%s resolve wrote %d references to %d images, want 3 to 2:\n%s", tool, len(refs), len(byName), out)
		}
	}
	// With each reference named for its package alone, the outputs are
	// the same: same documents, comments, order and layout, but for the
	// "---" ko ends each file with.
	normal := func(s string) string { return pushedRef.ReplaceAllString(s, "IMAGE/$1") }
	if diff := cmp.Diff(normal(strings.TrimSuffix(koOut, "\n---\n")), normal(ours)); diff != "" {
		t.Errorf("builder resolve vs ko resolve, references normalized (-ko +builder):\n%s", diff)
	}
}
