package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func report(w io.Writer, e *env, res []measured) error {
	fmt.Fprintf(w, "builder vs ko %s vs go build — %s, %d cores, %s, %s\n\n", koVersion, cpuModel(), runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(w, "| scenario | tool | median | min–max | CPU (median) | uploaded (median) | builder peak RSS |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
	med, cpu := map[string]time.Duration{}, map[string]time.Duration{}
	for _, m := range res {
		for _, t := range m.order {
			ss := m.samples[t]
			d := durations(ss, func(s sample) time.Duration { return s.took })
			c := durations(ss, func(s sample) time.Duration { return s.cpu })
			med[m.scenario+"/"+t], cpu[m.scenario+"/"+t] = d[len(d)/2], c[len(c)/2]
			fmt.Fprintf(w, "| %s | %s | %s | %s–%s | %s | %s | %s |\n", m.scenario, t, secs(d[len(d)/2]), secs(d[0]), secs(d[len(d)-1]),
				secs(c[len(c)/2]), uploaded(ss), rssOf(ss))
		}
	}
	change, none := "one-line change + publish/", "no-change publish/"
	fmt.Fprintln(w)
	has := func(keys ...string) bool {
		for _, k := range keys {
			if med[k] == 0 {
				return false
			}
		}
		return true
	}
	if has(change+toolBuilder, change+toolKo, change+toolGo) {
		fmt.Fprintf(w, "- one-line change + publish: builder / ko = %.2f (goal ≤ 0.70); builder / go build = %.2f (goal ≤ 1.10)\n",
			ratio(med[change+toolBuilder], med[change+toolKo]), ratio(med[change+toolBuilder], med[change+toolGo]))
		roundLine(w, res, strings.TrimSuffix(change, "/"), toolBuilder, toolGo, "builder / go build")
	}
	if has(none+toolBuilder, none+toolGo) {
		fmt.Fprintf(w, "- no-change publish: builder %s (goal ≤ 0.150 s), uploading %s; the no-op go build in it alone takes %s, builder adds %d ms\n",
			secs(med[none+toolBuilder]), uploaded(samplesOf(res, "no-change publish", toolBuilder)), secs(med[none+toolGo]),
			(med[none+toolBuilder] - med[none+toolGo]).Milliseconds())
	}
	if two := twoScenario + "/"; has(two+toolBuilder, two+toolOne) {
		fmt.Fprintf(w, "- two platforms / one platform after a change (builder, in the same rounds): %.2f (goal ≤ 1.50)\n",
			ratio(med[two+toolBuilder], med[two+toolOne]))
		roundLine(w, res, twoScenario, toolBuilder, toolOne, "two platforms / one")
	}
	if has("tarball after a change/"+toolBuilder, "tarball after a change/"+toolKo) {
		fmt.Fprintf(w, "- tarball after a change: builder / ko = %.2f (goal ≤ 0.70)\n",
			ratio(med["tarball after a change/"+toolBuilder], med["tarball after a change/"+toolKo]))
	}
	if has(probeScenario+"/"+toolProbe, probeNoChange+"/"+toolProbe, none+toolBuilder) {
		fmt.Fprintf(w, "- builder's HTTP healthcheck probe adds %d ms to a change + publish and %d ms to a no-change publish (medians)\n",
			(med[probeScenario+"/"+toolProbe] - med[probeScenario+"/"+toolBuilder]).Milliseconds(),
			(med[probeNoChange+"/"+toolProbe] - med[none+toolBuilder]).Milliseconds())
	}
	cold, shared, fleet := coldScenario+"/", sharedScenario+"/", fleetScenario+"/"
	if has(cold+toolBuilder, cold+toolKo, cold+toolGo) {
		fmt.Fprintf(w, "- cold (empty caches, modules downloaded): builder %s, ko %s, go build %s\n",
			secs(med[cold+toolBuilder]), secs(med[cold+toolKo]), secs(med[cold+toolGo]))
	}
	if has(shared+toolFresh, shared+toolWarm) {
		line := fmt.Sprintf("- fresh runner with the shared Go build cache, one-line change + publish: %s, %.2f × the warm %s (goal ≤ 5)",
			secs(med[shared+toolFresh]), ratio(med[shared+toolFresh], med[shared+toolWarm]), secs(med[shared+toolWarm]))
		if has(cold + toolBuilder) {
			line += fmt.Sprintf("; %.1f × faster than builder cold", ratio(med[cold+toolBuilder], med[shared+toolFresh]))
		}
		if has(cold + toolKo) {
			line += fmt.Sprintf(", %.1f × faster than ko cold", ratio(med[cold+toolKo], med[shared+toolFresh]))
		}
		fmt.Fprintln(w, line)
	}
	if has(fleet+toolBuilder, fleet+toolGo, fleet+toolKo) {
		fmt.Fprintf(w, "- eight services after a library change: builder / go build = %.2f (goal ≤ 1.15); builder / ko = %.2f; go build / ko = %.2f; builder's peak RSS %.1f MB, %.1f MB a service (goal ≤ 64 MB)\n",
			ratio(med[fleet+toolBuilder], med[fleet+toolGo]), ratio(med[fleet+toolBuilder], med[fleet+toolKo]),
			ratio(med[fleet+toolGo], med[fleet+toolKo]), maxOf(samplesOf(res, fleetScenario, toolBuilder)),
			maxOf(samplesOf(res, fleetScenario, toolBuilder))/fleetServices)
		// While go build keeps every core busy, the CPU builder spends
		// beyond it (compressing the layers, hashing, pushing) adds at
		// least its share of the cores to the time.
		extra := cpu[fleet+toolBuilder] - cpu[fleet+toolGo]
		fmt.Fprintf(w, "  - CPU: builder %s, go build %s (%.2f cores busy); builder's %s more on %d cores puts its floor at %.2f × go build\n",
			secs(cpu[fleet+toolBuilder]), secs(cpu[fleet+toolGo]), ratio(cpu[fleet+toolGo], med[fleet+toolGo]), secs(extra), runtime.NumCPU(),
			ratio(med[fleet+toolGo]+extra/time.Duration(runtime.NumCPU()), med[fleet+toolGo]))
		own := durations(samplesOf(res, fleetScenario, toolBuilder), func(s sample) time.Duration { return s.own })
		children := durations(samplesOf(res, fleetScenario, toolBuilder), func(s sample) time.Duration { return s.children })
		fmt.Fprintf(w, "  - builder's own CPU, the compiler's not counted: %s, %s a service; its go build's (and git's): %s, against the bare go build's %s (medians)\n",
			secs(own[len(own)/2]), secs(own[len(own)/2]/fleetServices), secs(children[len(children)/2]), secs(cpu[fleet+toolGo]))
		roundLine(w, res, fleetScenario, toolBuilder, toolGo, "builder / go build")
		reg := durations(samplesOf(res, fleetScenario, toolBuilder), func(s sample) time.Duration { return s.registry })
		fmt.Fprintf(w, "  - the bench's registry, on the same cores, used %s of CPU while builder ran (median), not counted above\n", secs(reg[len(reg)/2]))
	}
	if far := farScenario + "/"; has(far+toolBuilder, far+toolKo) {
		fmt.Fprintf(w, "- eight services after a library change, to a registry %s and %d Mbit/s away: builder %s, ko %s (builder / ko = %.2f)\n",
			farLatency, farMbit, secs(med[far+toolBuilder]), secs(med[far+toolKo]), ratio(med[far+toolBuilder], med[far+toolKo]))
	}
	if m := maxRSS(res); m > 0 {
		big := ""
		if ss := samplesOf(res, bigBinary, toolBuilder); len(ss) > 0 {
			big = fmt.Sprintf(", %s with the 17 MB binary", rssOf(ss))
		}
		fmt.Fprintf(w, "- builder's own peak RSS (not the compiler's), one service a run: %.1f MB at most%s (goal ≤ 64 MB)\n", m, big)
	}
	if !has(change+toolBuilder, change+toolKo) {
		return nil
	}
	return sizes(w, res)
}

func maxOf(ss []sample) float64 {
	var m float64
	for _, s := range ss {
		m = max(m, s.rss)
	}
	return m
}

// sizes compares the compressed size of the last image each tool pushed in
// the first scenario: same binary flags, same base.
func sizes(w io.Writer, res []measured) error {
	for _, t := range []string{toolBuilder, toolKo} {
		ss := samplesOf(res, "one-line change + publish", t)
		ref := ss[len(ss)-1].ref
		if ref == "" {
			return fmt.Errorf("%s printed no image reference", t)
		}
		n, err := compressedSize(ref)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "- compressed image size, %s: %d bytes\n", t, n)
	}
	return nil
}

func compressedSize(ref string) (int64, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return 0, err
	}
	img, err := remote.Image(r)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

func samplesOf(res []measured, scenario, tool string) []sample {
	for _, m := range res {
		if m.scenario == scenario {
			return m.samples[tool]
		}
	}
	return nil
}

// roundLine writes tool a's time over b's, labelled, round by round in
// scenario, when both ran every round.
func roundLine(w io.Writer, res []measured, scenario, a, b, label string) {
	if r, ok := roundRatios(samplesOf(res, scenario, a), samplesOf(res, scenario, b)); ok {
		fmt.Fprintf(w, "  - round by round (a round runs the tools one after another): %s %s\n", label, r)
	}
}

// roundRatios describes a's time over b's in each round, where the i-th
// sample of each is from the i-th round: its median, and its least and
// greatest. A round's two runs are minutes apart at most, so their ratio
// is spared the host's slower drifts, which the ratio of the medians is
// not.
func roundRatios(a, b []sample) (string, bool) {
	if len(a) == 0 || len(a) != len(b) {
		return "", false
	}
	r := make([]float64, len(a))
	for i := range a {
		r[i] = ratio(a[i].took, b[i].took)
	}
	sort.Float64s(r)
	return fmt.Sprintf("%.2f median of %d rounds (%.2f–%.2f)", r[len(r)/2], len(r), r[0], r[len(r)-1]), true
}

// durations are what of each sample, sorted.
func durations(ss []sample, of func(sample) time.Duration) []time.Duration {
	d := make([]time.Duration, len(ss))
	for i, s := range ss {
		d[i] = of(s)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

func uploaded(ss []sample) string {
	n := make([]int64, len(ss))
	for i, s := range ss {
		n[i] = s.uploaded
	}
	sort.Slice(n, func(i, j int) bool { return n[i] < n[j] })
	if len(n) == 0 || n[len(n)/2] == 0 && n[len(n)-1] == 0 {
		return "0 B"
	}
	return fmt.Sprintf("%.2f MB", float64(n[len(n)/2])/1e6)
}

func rssOf(ss []sample) string {
	m := maxOf(ss)
	if m == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f MB", m)
}

// maxRSS is builder's peak RSS over the runs that build one service.
func maxRSS(res []measured) float64 {
	var m float64
	for _, r := range res {
		if r.scenario == fleetScenario {
			continue
		}
		for _, t := range []string{toolBuilder, toolWarm, toolFresh, toolProbe} {
			m = max(m, maxOf(r.samples[t]))
		}
	}
	return m
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
