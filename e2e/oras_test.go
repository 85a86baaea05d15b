package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// orasPath returns oras from $PATH, else from $(go env GOPATH)/bin.
func orasPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("oras"); err == nil {
		return p
	}
	p := filepath.Join(strings.TrimSpace(mustRun(t, "go", "env", "GOPATH")), "bin", "oras")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("BUILDER_E2E=1 but oras is missing: %v (make test-deps installs it)", err)
	}
	return p
}

// TestOrasFindsRecords: oras, a client nobody here wrote, finds the
// published image's SBOM and provenance with `oras discover` on a registry
// without the referrers API (the fallback tag), and `oras pull` saves each
// under the file name its layer's title gives.
func TestOrasFindsRecords(t *testing.T) {
	requireRegistryTools(t)
	built(t)
	t.Parallel()
	oras := orasPath(t)
	reg := startRegistry(t, false)
	p := newPublisher(t, reg)
	repo := reg.host + "/team/oras"
	d := sameDigest(t, published(t, p.publish(t, "--tag", "v1.2.0", "--repo", repo).stdout, repo))

	out := mustRun(t, oras, "discover", "--plain-http", "--format", "json", repo+"@"+d)
	var found struct {
		Referrers []struct {
			Digest, ArtifactType string
		}
	}
	if err := json.Unmarshal([]byte(out), &found); err != nil {
		t.Fatalf("decoding oras discover: %v\n%s", err, out)
	}
	byType := map[string]string{}
	for _, r := range found.Referrers {
		byType[r.ArtifactType] = r.Digest
	}
	for typ, file := range map[string]string{spdxType: "sbom.spdx.json", intotoType: "provenance.intoto.json"} {
		rd, ok := byType[typ]
		if !ok {
			t.Errorf("oras discover lists no %s referrer of %s:\n%s", typ, d, out)
			continue
		}
		dir := t.TempDir()
		mustRun(t, oras, "pull", "--plain-http", "--output", dir, repo+"@"+rd)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{file}) {
			t.Errorf("oras pull of the %s record saved %v, want [%s]", typ, names, file)
			continue
		}
		if data, err := os.ReadFile(filepath.Join(dir, file)); err != nil || len(data) == 0 {
			t.Errorf("oras pull saved an empty %s (%v)", file, err)
		}
	}
}
