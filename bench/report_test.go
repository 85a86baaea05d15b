package main

import (
	"strings"
	"testing"
	"time"
)

// TestRoundRatios: each round's ratio is taken before the median, so a
// host that slows down over the runs moves both tools of a round alike.
func TestRoundRatios(t *testing.T) {
	// The host runs twice as slow in the last rounds, and the middle
	// round's go build ran fast: the ratio of the medians is 6.6 / 4 =
	// 1.65, while all rounds but that one have builder 1.1 × go build.
	a := tookSecs(4.4, 4.4, 6.6, 8.8, 8.8)
	b := tookSecs(4, 4, 6, 8, 8)
	b[2].took = 4 * time.Second
	got, ok := roundRatios(a, b)
	if want := "1.10 median of 5 rounds (1.10–1.65)"; !ok || got != want {
		t.Errorf("roundRatios = %q, %v; want %q", got, ok, want)
	}
	if _, ok := roundRatios(a, b[:4]); ok {
		t.Error("roundRatios of unpaired samples reported a ratio")
	}
	if _, ok := roundRatios(nil, nil); ok {
		t.Error("roundRatios of no samples reported a ratio")
	}
}

// TestReportTwoPlatforms: two platforms are weighed against builder's
// one-platform runs of the same rounds, not against another scenario's,
// which ran minutes before on a host whose speed drifts.
func TestReportTwoPlatforms(t *testing.T) {
	res := []measured{
		// The one-line change ran while the host was fast.
		{scenario: "one-line change + publish", order: []string{toolBuilder},
			samples: map[string][]sample{toolBuilder: tookSecs(0.5, 0.5, 0.5)}},
		{scenario: twoScenario, order: []string{toolBuilder, toolOne},
			samples: map[string][]sample{toolBuilder: tookSecs(1.2, 1.3, 1.5), toolOne: tookSecs(1.0, 1.0, 1.0)}},
	}
	var out strings.Builder
	if err := report(&out, nil, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"- two platforms / one platform after a change (builder, in the same rounds): 1.30 (goal ≤ 1.50)\n",
		"  - round by round (a round runs the tools one after another): two platforms / one 1.30 median of 3 rounds (1.20–1.50)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// tookSecs are samples that took ds seconds, one a round.
func tookSecs(ds ...float64) []sample {
	ss := make([]sample, len(ds))
	for i, d := range ds {
		ss[i].took = time.Duration(d * float64(time.Second))
	}
	return ss
}
