package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// outcome is what one finished run of builder did.
type outcome struct {
	args           []string
	stdout, stderr string
	code           int // exit code
	took           time.Duration
}

func (o outcome) String() string {
	return fmt.Sprintf("builder %s: exit %d after %s\nstdout:\n%sstderr:\n%s",
		strings.Join(o.args, " "), o.code, o.took.Round(time.Millisecond), o.stdout, o.stderr)
}

// runBuilder runs builder with args in dir, with env added to the
// environment and stdin as its input. It fails t only when builder cannot
// run or outlives buildTimeout; a non-zero exit is the caller's to judge.
func runBuilder(t *testing.T, builder, dir string, env []string, stdin string, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, builder, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := outcome{args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("timed out after %s: %v", buildTimeout, res)
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running builder %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// publisher runs builder in a clean clone of the repository's HEAD, so that
// publishing works (and writes git-<commit>) while the checkout is dirty.
type publisher struct {
	builder string
	clone   string
	commit  string // the clone's short commit, as in git-<commit>
	env     []string
}

// newPublisher clones HEAD and sets up builder to reach reg with the right
// credentials and a fresh cache.
func newPublisher(t *testing.T, reg *registry) *publisher {
	t.Helper()
	b := built(t)
	clone := cloneAt(t, b.root, filepath.Join(t.TempDir(), "src"), -1)
	short := strings.TrimSpace(mustRun(t, "git", "-C", clone, "rev-parse", "--short", "HEAD"))
	return &publisher{builder: b.builder, clone: clone, commit: short, env: reg.env("", t.TempDir())}
}

// run runs builder in the clone, with env set over the publisher's.
func (p *publisher) run(t *testing.T, env []string, args ...string) outcome {
	t.Helper()
	return runBuilder(t, p.builder, p.clone, append(append([]string{}, p.env...), env...), "", args...)
}

// publish runs builder publish with args and fails t unless it exits 0.
func (p *publisher) publish(t *testing.T, args ...string) outcome {
	t.Helper()
	res := p.run(t, nil, append([]string{"publish"}, args...)...)
	if res.code != 0 {
		t.Fatalf("publish failed: %v", res)
	}
	return res
}

// published parses publish's stdout, one REPO:TAG@DIGEST line per tag, for
// repository repo, into tag → digest; every line must match and no tag
// may repeat.
func published(t *testing.T, stdout, repo string) map[string]string {
	t.Helper()
	line := regexp.MustCompile(`^` + regexp.QuoteMeta(repo) + `:([\w][\w.-]*)@(sha256:[0-9a-f]{64})$`)
	refs := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("publish stdout line %q is not %s:TAG@DIGEST; stdout:\n%s", l, repo, stdout)
		}
		if _, dup := refs[m[1]]; dup {
			t.Fatalf("publish printed tag %s twice:\n%s", m[1], stdout)
		}
		refs[m[1]] = m[2]
	}
	return refs
}

// sameDigest returns the one digest all refs share, failing t if they differ.
func sameDigest(t *testing.T, refs map[string]string) string {
	t.Helper()
	var d string
	for _, v := range refs {
		if d != "" && v != d {
			t.Fatalf("the tags name different digests: %v", refs)
		}
		d = v
	}
	return d
}

// each returns a map from every tag to digest.
func each(digest string, tags ...string) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[t] = digest
	}
	return m
}

// merged returns the union of maps, later ones winning.
func merged(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// publishJSON is the part of publish --json the tests read.
type publishJSON struct {
	Repository string   `json:"repository"`
	Digest     string   `json:"digest"`
	Version    string   `json:"version"`
	Moved      []string `json:"tags_moved"`
	Sizes      struct {
		Uploaded int64 `json:"uploaded_layer_bytes"`
	} `json:"sizes"`
}

// TestPublishTags publishes four versions of one commit to a real registry
// with TLS and auth, and checks with crane and skopeo which tags each wrote
// and where every tag points after each.
func TestPublishTags(t *testing.T) {
	requireRegistryTools(t)
	built(t)
	t.Parallel()
	reg := startRegistry(t, true)
	p := newPublisher(t, reg)
	const path = "team/app"
	repo := reg.host + "/" + path
	git := "git-" + p.commit
	var d1, d2, d3 string

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	step("v1.2.0", func(t *testing.T) {
		res := p.publish(t, "--tag", "v1.2.0", "--repo", repo)
		refs := published(t, res.stdout, repo)
		d1 = sameDigest(t, refs)
		want := []string{"git-" + p.commit, "latest", "v1", "v1.2", "v1.2.0"}
		sort.Strings(want)
		if diff := cmp.Diff(each(d1, want...), refs); diff != "" {
			t.Fatalf("publish stdout mismatch (-want +got):\n%s\n%v", diff, res)
		}
		if diff := cmp.Diff(want, reg.tags(t, path)); diff != "" {
			t.Errorf("crane ls mismatch (-want +got):\n%s", diff)
		}
		for _, tag := range want {
			if got := strings.TrimSpace(reg.mustCrane(t, "digest", repo+":"+tag)); got != d1 {
				t.Errorf("crane digest %s:%s = %s, want %s", repo, tag, got, d1)
			}
			if got := reg.skopeoDigest(t, path+":"+tag); got != d1 {
				t.Errorf("skopeo inspect %s:%s digest = %s, want %s", repo, tag, got, d1)
			}
		}
		reg.mustCrane(t, "validate", "--remote", repo+":v1.2.0")
	})
	first := each(d1, "v1.2.0", "v1.2", "v1", "latest")
	step("v1.1.5", func(t *testing.T) {
		res := p.publish(t, "--tag", "v1.1.5", "--repo", repo)
		refs := published(t, res.stdout, repo)
		d2 = sameDigest(t, refs)
		if d2 == d1 {
			t.Fatalf("v1.1.5 has the digest of v1.2.0, %s", d1)
		}
		if diff := cmp.Diff(each(d2, "v1.1.5", "v1.1", git), refs); diff != "" {
			t.Errorf("publish stdout mismatch (-want +got):\n%s\n%v", diff, res)
		}
		for _, tag := range []string{"v1", "latest"} {
			if !leftLine(res.stderr, tag, "v1.2.0") {
				t.Errorf("stderr does not say that %s was left because of v1.2.0:\n%s", tag, res.stderr)
			}
		}
		want := merged(first, each(d2, "v1.1.5", "v1.1", git))
		if diff := cmp.Diff(want, reg.tagDigests(t, path)); diff != "" {
			t.Errorf("registry tags mismatch (-want +got):\n%s", diff)
		}
	})
	step("v1.3.0-rc.1", func(t *testing.T) {
		res := p.publish(t, "--tag", "v1.3.0-rc.1", "--repo", repo)
		refs := published(t, res.stdout, repo)
		d3 = sameDigest(t, refs)
		if diff := cmp.Diff(each(d3, "v1.3.0-rc.1", git), refs); diff != "" {
			t.Errorf("publish stdout mismatch (-want +got):\n%s\n%v", diff, res)
		}
		want := merged(first, each(d2, "v1.1.5", "v1.1"), each(d3, "v1.3.0-rc.1", git))
		if diff := cmp.Diff(want, reg.tagDigests(t, path)); diff != "" {
			t.Errorf("registry tags mismatch (-want +got):\n%s", diff)
		}
	})
	step("republish v1.2.0", func(t *testing.T) {
		res := p.publish(t, "--tag", "v1.2.0", "--repo", repo, "--json")
		var got publishJSON
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatalf("decoding publish --json: %v\n%v", err, res)
		}
		if got.Digest != d1 || got.Repository != repo || got.Version != "v1.2.0" {
			t.Errorf("publish --json names %s %s %s, want %s %s v1.2.0", got.Repository, got.Version, got.Digest, repo, d1)
		}
		if got.Sizes.Uploaded != 0 {
			t.Errorf("republishing uploaded %d layer bytes, want 0\n%v", got.Sizes.Uploaded, res)
		}
		// git-<commit> names the commit's last publish, v1.2.0 again.
		want := merged(first, each(d2, "v1.1.5", "v1.1"), each(d3, "v1.3.0-rc.1"), each(d1, git))
		if diff := cmp.Diff(want, reg.tagDigests(t, path)); diff != "" {
			t.Errorf("registry tags mismatch (-want +got):\n%s", diff)
		}
	})
}

// leftLine reports whether a line of stderr says tag was left where it was
// because of release newer.
func leftLine(stderr, tag, newer string) bool {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "left "+tag+" ") && strings.Contains(l, newer) {
			return true
		}
	}
	return false
}
