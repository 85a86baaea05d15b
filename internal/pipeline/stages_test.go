package pipeline_test

import (
	"os/exec"
	"strings"
	"testing"
)

// stages lists builder's packages in pipeline order: each may import only
// those before it. Test support packages (…test) are not stages.
var stages = []string{
	// Helpers of every stage.
	"internal/trace", "internal/atomicfile", "internal/platform",
	// Source: the checkout, the settings, the package.
	"internal/vcs", "internal/koconfig", "internal/source",
	// Binaries: the service's, and builder's healthcheck probe (its src/
	// is the probe's own main package, which imports nothing of builder).
	"internal/gobuild", "internal/probe/src",
	// Layers, and the cache that keeps them (and binaries and bases).
	"internal/cache", "internal/probe", "internal/layers",
	// The registry client, which bases and delivery both use.
	"internal/registry",
	"internal/gocache",
	// Image: what it says of itself, what it is built on, its records,
	// and the build that assembles it.
	"internal/imagespec", "internal/base", "internal/attest", "internal/build",
	// Destinations, then the release's tags.
	"internal/push", "internal/release",
	// The commands.
	"internal/pipeline", "internal/resolve",
	// Deployment files for a built image.
	"internal/deploy",
	"cmd/builder",
}

// TestStagesImportOnlyEarlierStages checks, with go list, that data flows
// one way: no package imports one of a later stage.
func TestStagesImportOnlyEarlierStages(t *testing.T) {
	const module = "github.com/buildercli/builder/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rank := map[string]int{}
	for i, s := range stages {
		rank[s] = i
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		if !strings.HasPrefix(pkg, "internal/") && pkg != "cmd/builder" || strings.HasSuffix(pkg, "test") {
			continue
		}
		r, ok := rank[pkg]
		if !ok {
			t.Errorf("%s is in no stage: add it to stages", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ok := strings.CutPrefix(imp, module)
			if !ok || strings.HasSuffix(dep, "test") {
				continue
			}
			if d, ok := rank[dep]; ok && d >= r {
				t.Errorf("%s imports %s, a later stage", pkg, dep)
			}
		}
	}
}
