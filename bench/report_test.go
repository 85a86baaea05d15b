package main

import (
	"testing"
	"time"
)

// TestRoundRatios: each round's ratio is taken before the median, so a
// host that slows down over the runs moves both tools of a round alike.
func TestRoundRatios(t *testing.T) {
	secs := func(ds ...float64) []sample {
		ss := make([]sample, len(ds))
		for i, d := range ds {
			ss[i].took = time.Duration(d * float64(time.Second))
		}
		return ss
	}
	// The host runs twice as slow in the last rounds, and the middle
	// round's go build ran fast: the ratio of the medians is 6.6 / 4 =
	// 1.65, while all rounds but that one have builder 1.1 × go build.
	a := secs(4.4, 4.4, 6.6, 8.8, 8.8)
	b := secs(4, 4, 6, 8, 8)
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
