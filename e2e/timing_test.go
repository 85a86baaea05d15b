package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// timingRuns is how many publishes of each kind TestPublishTiming times.
const timingRuns = 3

// TestPublishTiming logs how long publishing takes to a plain-HTTP registry
// on loopback, with warm builder and Go caches: after a one-line change to
// the app (committed, as a release would be), and with no change at all. It
// asserts only that every publish succeeds and that an unchanged one sends
// no layer bytes. It does not run in parallel, so that nothing else competes
// for the machine while it measures.
func TestPublishTiming(t *testing.T) {
	requireRegistryTools(t)
	built(t)
	reg := startRegistry(t, false)
	p := newPublisher(t, reg)
	repo := reg.host + "/team/timing"
	publish := func(t *testing.T, version string) (time.Duration, publishJSON) {
		t.Helper()
		res := p.publish(t, "--tag", version, "--repo", repo, "--json")
		var got publishJSON
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatalf("decoding publish --json: %v\n%v", err, res)
		}
		return res.took, got
	}

	took, _ := publish(t, "v0.1.0")
	t.Logf("warm-up publish v0.1.0 (cold builder cache): %s", took.Round(time.Millisecond))

	var changed, unchanged []time.Duration
	version := ""
	for i := 1; i <= timingRuns; i++ {
		version = fmt.Sprintf("v0.1.%d", i)
		p.commitChange(t, fmt.Sprintf("// timing run %d\n", i))
		took, got := publish(t, version)
		changed = append(changed, took)
		t.Logf("one-line change, publish %s: %s (%d layer bytes uploaded)", version, took.Round(time.Millisecond), got.Sizes.Uploaded)
	}
	for i := 1; i <= timingRuns; i++ {
		took, got := publish(t, version)
		unchanged = append(unchanged, took)
		t.Logf("no change, republish %s: %s (%d layer bytes uploaded)", version, took.Round(time.Millisecond), got.Sizes.Uploaded)
		if got.Sizes.Uploaded != 0 {
			t.Errorf("republishing %s unchanged uploaded %d layer bytes, want 0", version, got.Sizes.Uploaded)
		}
	}
	t.Logf("median of %d publishes after a one-line change: %s", timingRuns, median(changed).Round(time.Millisecond))
	t.Logf("median of %d republishes with no change: %s", timingRuns, median(unchanged).Round(time.Millisecond))
}

// commitChange appends line to app/main.go in the clone and commits it, so
// that the tree is clean again and the commit is new.
func (p *publisher) commitChange(t *testing.T, line string) {
	t.Helper()
	main := filepath.Join(p.clone, "app", "main.go")
	f, err := os.OpenFile(main, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("opening %s: %v", main, err)
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("appending to %s: %v", main, err)
	}
	mustRun(t, "git", "-C", p.clone, "-c", "user.name=e2e", "-c", "user.email=e2e@example.com",
		"commit", "--quiet", "--all", "--message", strings.TrimSpace(strings.TrimPrefix(line, "//")))
	p.commit = strings.TrimSpace(mustRun(t, "git", "-C", p.clone, "rev-parse", "--short", "HEAD"))
}

// median returns the middle of ds (the mean of the two middles for an even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
