package attest

import (
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStdlibPackage(t *testing.T) {
	for _, tc := range []struct {
		goVersion          string
		version, purl, cpe string
	}{
		// What syft v1.57.1 writes for the standard library, and grype and
		// trivy match CVEs against.
		{"go1.26.8", "1.26.8", "pkg:golang/stdlib@1.26.8", "cpe:2.3:a:golang:go:1.26.8:-:*:*:*:*:*:*"},
		{"go1.22", "1.22", "pkg:golang/stdlib@1.22", "cpe:2.3:a:golang:go:1.22:-:*:*:*:*:*:*"},
		{"go1.27rc1", "1.27rc1", "pkg:golang/stdlib@1.27rc1", "cpe:2.3:a:golang:go:1.27:rc1:*:*:*:*:*:*"},
		{"go1.26.8 X:boringcrypto", "1.26.8", "pkg:golang/stdlib@1.26.8", "cpe:2.3:a:golang:go:1.26.8:-:*:*:*:*:*:*"},
		// A toolchain built from source is no release: no CPE to match.
		{"devel go1.27-0123abcd Tue Jan 1 00:00:00 2026 +0000", "devel", "pkg:golang/stdlib@devel", ""},
	} {
		t.Run(tc.goVersion, func(t *testing.T) {
			p := stdlibPackage(tc.goVersion)
			var purl, cpe string
			for _, r := range p.PackageExternalReferences {
				switch r.Category + " " + r.RefType {
				case "PACKAGE-MANAGER purl":
					purl = r.Locator
				case "SECURITY cpe23Type":
					cpe = r.Locator
				default:
					t.Errorf("unexpected reference %s %s %s", r.Category, r.RefType, r.Locator)
				}
			}
			got := []string{p.PackageName, p.PackageVersion, purl, cpe}
			if diff := cmp.Diff([]string{"stdlib", tc.version, tc.purl, tc.cpe}, got); diff != "" {
				t.Errorf("name, version, purl, CPE (-want +got):\n%s", diff)
			}
		})
	}
}

// TestModulePackageEscapes: module paths with capitals and versions with
// "+incompatible" are escaped as the module proxy and the purl spec want.
func TestModulePackageEscapes(t *testing.T) {
	m := &debug.Module{Path: "github.com/Azure/go-autorest", Version: "v14.2.0+incompatible",
		Sum: "h1:V5VMDjClD3GiElqLWO7mz2MxNAK/vTfRHdAubSIPRgs="}
	p := modulePackage(m)
	var purl string
	for _, r := range p.PackageExternalReferences {
		if r.RefType == "purl" {
			purl = r.Locator
		}
	}
	got := []string{p.PackageDownloadLocation, purl, p.PackageComment}
	want := []string{
		"https://proxy.golang.org/github.com/!azure/go-autorest/@v/v14.2.0+incompatible.zip",
		"pkg:golang/github.com/Azure/go-autorest@v14.2.0%2Bincompatible",
		"go.sum hash h1:V5VMDjClD3GiElqLWO7mz2MxNAK/vTfRHdAubSIPRgs=",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("download location, purl, comment (-want +got):\n%s", diff)
	}
	if len(p.PackageChecksums) != 0 {
		t.Errorf("checksums %v: the go.sum hash is no checksum of the zip", p.PackageChecksums)
	}
}
