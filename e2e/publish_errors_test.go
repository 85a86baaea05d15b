package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// dnsDeadline bounds a publish to a host that does not resolve.
const dnsDeadline = 60 * time.Second

// TestPublishErrors runs publishes that must fail before anything is built
// or pushed: each exits non-zero with one line on stderr that says what is
// wrong, and the registry's tags stay as they were.
func TestPublishErrors(t *testing.T) {
	requireRegistryTools(t)
	b := built(t)
	t.Parallel()
	reg := startRegistry(t, true)
	p := newPublisher(t, reg)
	const path = "team/app"
	repo := reg.host + "/" + path
	// A tag to compare against, put there by crane rather than builder.
	reg.mustCrane(t, "push", b.tarball, repo+":seed")
	before := reg.tags(t, path)
	wrongCreds := dockerConfig(t, regUser, "not-"+regPass, reg.host)

	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string // substrings of the error line
	}{
		{name: "bad tag", args: []string{"--tag", "1.2", "--repo", repo}, want: []string{`"1.2"`, "SemVer"}},
		{name: "no repository", args: []string{"--tag", "v1.2.0"}, want: []string{"--repo", "BUILDER_REPO"}},
		{name: "unknown host", args: []string{"--tag", "v1.2.0", "--repo", "nosuch.invalid/app"},
			want: []string{"nosuch.invalid"}},
		{name: "wrong password", args: []string{"--tag", "v1.2.0", "--repo", repo},
			env: []string{"DOCKER_CONFIG=" + wrongCreds}, want: []string{"credentials", "login"}},
		{name: "untrusted CA", args: []string{"--tag", "v1.2.0", "--repo", repo},
			env: []string{"SSL_CERT_FILE="}, want: []string{"TLS certificate", "SSL_CERT_FILE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := p.run(t, tc.env, append([]string{"publish"}, tc.args...)...)
			if res.code == 0 {
				t.Fatalf("publish succeeded, want a failure: %v", res)
			}
			lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "builder: ") {
				t.Errorf("stderr has %d lines, want one \"builder: ...\" line: %v", len(lines), res)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr does not mention %q: %v", w, res)
				}
			}
			if res.stdout != "" {
				t.Errorf("stdout is not empty: %v", res)
			}
			if strings.Contains(res.stdout+res.stderr, regPass) {
				t.Errorf("the password leaked into the output: %v", res)
			}
			if tc.name == "unknown host" && res.took > dnsDeadline {
				t.Errorf("failing on an unknown host took %s, want at most %s", res.took, dnsDeadline)
			}
			t.Logf("%s after %s", strings.TrimSpace(res.stderr), res.took.Round(time.Millisecond))
		})
	}
	if diff := cmp.Diff(before, reg.tags(t, path)); diff != "" {
		t.Errorf("the failed publishes changed the tags (-want +got):\n%s", diff)
	}
}
