package attest_test

import (
	"bytes"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	spdxjson "github.com/spdx/tools-golang/json"

	"github.com/buildercli/builder/internal/attest"
)

// goPkg is what a scanner reads of a Go package in an SBOM.
type goPkg struct {
	Version, Purl string
	CPEs          []string
}

// goPackages returns the Go packages (purl type golang) of an SPDX JSON
// document by name.
func goPackages(t *testing.T, data []byte) map[string]goPkg {
	t.Helper()
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reading an SBOM with the SPDX tools: %v", err)
	}
	out := map[string]goPkg{}
	for _, p := range doc.Packages {
		var g goPkg
		for _, r := range p.PackageExternalReferences {
			switch r.RefType {
			case "purl":
				g.Purl = r.Locator
			case "cpe23Type":
				g.CPEs = append(g.CPEs, r.Locator)
			}
		}
		if !strings.HasPrefix(g.Purl, "pkg:golang/") {
			continue
		}
		if _, dup := out[p.PackageName]; dup {
			t.Errorf("two Go packages are named %s", p.PackageName)
		}
		g.Version = p.PackageVersion
		out[p.PackageName] = g
	}
	return out
}

// syftBinary is ./app compiled as builder compiles it: static, -trimpath,
// no VCS stamp, the version in the ldflags.
func syftBinary(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("locating the repository: %v", err)
	}
	out := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -X main.version=v1.2.3", "-o", out, "./app")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./app: %v\n%s", err, msg)
	}
	return out
}

// TestSBOMMatchesSyft compares builder's SBOM of a binary with syft's, the
// document grype reads and trivy reads alike: the same Go modules at the
// same versions and purls, and the standard library with the same purl and
// CPE. It runs with BUILDER_E2E=1 and syft on PATH
// (go install github.com/anchore/syft/cmd/syft@v1.57.1, several minutes).
//
// Where the documents differ on purpose:
//   - syft's stdlib version keeps the "go" (go1.26.8); builder writes 1.26.8,
//     as in both purls and the CPE.
//   - syft cannot tell the main module's version (-trimpath drops the
//     ldflags from the build info, and there is no VCS stamp): it writes
//     UNKNOWN and a purl without version. builder knows the release it built.
//   - syft also guesses CPEs for modules, which its matchers do not use for
//     Go modules (grype matches them by purl, trivy by name and version);
//     they are not compared.
//   - syft gives the go.sum hash as a SHA256 checksum; builder does not
//     (it is no hash of the module's zip). Checksums are not compared.
func TestSBOMMatchesSyft(t *testing.T) {
	if os.Getenv("BUILDER_E2E") != "1" {
		t.Skip("comparison with syft: set BUILDER_E2E=1, with syft on PATH, to run it")
	}
	syft, err := exec.LookPath("syft")
	if err != nil {
		t.Skip("comparison with syft skipped: syft is not on PATH (go install github.com/anchore/syft/cmd/syft@v1.57.1)")
	}
	if bi, err := buildinfo.ReadFile(syft); err == nil {
		t.Logf("syft %s (%s)", bi.Main.Version, syft)
	}
	binary := syftBinary(t)
	out := filepath.Join(t.TempDir(), "syft.spdx.json")
	cmd := exec.Command(syft, "scan", "file:"+binary, "-o", "spdx-json="+out, "-q")
	cmd.Env = append(os.Environ(), "SYFT_CHECK_FOR_APP_UPDATE=false")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("syft scan: %v\n%s", err, msg)
	}
	theirs, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("reading syft's SBOM: %v", err)
	}
	in := input(binary)
	ours, err := attest.SBOM(in, in.Images[0])
	if err != nil {
		t.Fatalf("SBOM: %v", err)
	}
	want, got := goPackages(t, theirs), goPackages(t, ours)
	main := readBuildInfo(t, binary).Main.Path
	if _, ok := want[main]; !ok {
		t.Errorf("syft has no main module %s", main)
	}
	if app, ok := got[main]; !ok || app.Version != in.Version || app.Purl != "pkg:golang/"+main+"@"+in.Version {
		t.Errorf("builder's main module %s: %+v, want version and purl %s", main, app, in.Version)
	}
	delete(want, main)
	delete(got, main)
	if std, ok := want["stdlib"]; ok {
		std.Version = strings.TrimPrefix(std.Version, "go")
		want["stdlib"] = std
	}
	for name, p := range want {
		if name != "stdlib" {
			p.CPEs = nil
			want[name] = p
		}
	}
	if len(want) < 10 {
		t.Errorf("syft found %d Go packages, want the stdlib and ./app's modules", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Go packages, syft's (-want) and builder's (+got):\n%s", diff)
	}
}
