package attest_test

import (
	"bytes"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/buildercli/builder/internal/attest"
)

// pkgInfo is what the tests read of an SPDX package: its purl and CPE
// (external references of the categories scanners read), and its checksums
// as "ALGORITHM:value".
type pkgInfo struct {
	Name, Version, Purpose, Download string
	Purl, CPE                        string
	Checksums                        []string
	Comment                          string
}

func infoOf(t *testing.T, p *spdx.Package) pkgInfo {
	t.Helper()
	info := pkgInfo{Name: p.PackageName, Version: p.PackageVersion, Purpose: p.PrimaryPackagePurpose,
		Download: p.PackageDownloadLocation, Comment: p.PackageComment}
	for _, r := range p.PackageExternalReferences {
		switch {
		case r.Category == "PACKAGE-MANAGER" && r.RefType == "purl" && info.Purl == "":
			info.Purl = r.Locator
		case r.Category == "SECURITY" && r.RefType == "cpe23Type" && info.CPE == "":
			info.CPE = r.Locator
		default:
			t.Errorf("package %s: unexpected external reference %s %s %s", p.PackageName, r.Category, r.RefType, r.Locator)
		}
	}
	for _, c := range p.PackageChecksums {
		info.Checksums = append(info.Checksums, string(c.Algorithm)+":"+c.Value)
	}
	return info
}

// idSyntax is SPDX 2.3's idstring.
var idSyntax = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)

// readSBOM parses an SBOM with the SPDX tools and checks what any valid
// document must be: SPDX 2.3, valid, unique well-formed ids, and one
// described element. It returns the document's packages by id and its
// relationships as "A KIND B".
func readSBOM(t *testing.T, data []byte) (*spdx.Document, map[string]pkgInfo, []string) {
	t.Helper()
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reading the SBOM with the SPDX tools: %v\n%s", err, data)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Errorf("spdxlib.ValidateDocument: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.SPDXIdentifier != "DOCUMENT" {
		t.Errorf("document header: %s %s %s", doc.SPDXVersion, doc.DataLicense, doc.SPDXIdentifier)
	}
	described, err := spdxlib.GetDescribedPackageIDs(doc)
	if err != nil {
		t.Fatalf("GetDescribedPackageIDs: %v", err)
	}
	if diff := cmp.Diff([]common.ElementID{"Image"}, described); diff != "" {
		t.Errorf("described packages (-want +got):\n%s", diff)
	}
	pkgs := map[string]pkgInfo{}
	for _, p := range doc.Packages {
		id := string(p.PackageSPDXIdentifier)
		if _, dup := pkgs[id]; dup {
			t.Errorf("two packages have the id SPDXRef-%s", id)
		}
		if !idSyntax.MatchString(id) {
			t.Errorf("package id SPDXRef-%s is not an SPDX idstring", id)
		}
		pkgs[id] = infoOf(t, p)
	}
	var rels []string
	for _, r := range doc.Relationships {
		rels = append(rels, string(r.RefA.ElementRefID)+" "+r.Relationship+" "+string(r.RefB.ElementRefID))
	}
	return doc, pkgs, rels
}

// stdlibWant is the standard library of the Go release goVersion (go1.26.8)
// as syft (v1.57.1) writes it and grype and trivy match the standard
// library's CVEs against: the package "stdlib" at 1.26.8, the purl
// pkg:golang/stdlib@1.26.8 and the CPE cpe:2.3:a:golang:go:1.26.8:-:…,
// whose update "-" says a release (not one of its candidates).
func stdlibWant(t *testing.T, goVersion string) pkgInfo {
	t.Helper()
	v, ok := strings.CutPrefix(goVersion, "go")
	if !ok || !regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`).MatchString(v) {
		t.Skipf("the toolchain %s is no Go release: TestStdlibPackage covers the others", goVersion)
	}
	return pkgInfo{Name: "stdlib", Version: v, Purpose: "LIBRARY", Download: "NOASSERTION",
		Purl: "pkg:golang/stdlib@" + v, CPE: "cpe:2.3:a:golang:go:" + v + ":-:*:*:*:*:*:*",
		Comment: "the standard library of " + goVersion}
}

func TestSBOM(t *testing.T) {
	for _, tc := range []struct {
		name    string
		binary  string
		minDeps int
	}{
		{"./app", appBinary(t), 10},
		{"no dependency", tinyBinary(t), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(tc.binary)
			img := in.Images[1] // linux/arm64
			data, err := attest.SBOM(in, img)
			if err != nil {
				t.Fatalf("SBOM: %v", err)
			}
			doc, pkgs, rels := readSBOM(t, data)
			if !strings.HasSuffix(doc.DocumentNamespace, "/"+img.Descriptor.Digest.Hex) {
				t.Errorf("namespace %s does not name the image", doc.DocumentNamespace)
			}
			if doc.CreationInfo == nil || doc.CreationInfo.Created != "2024-05-01T10:00:00Z" {
				t.Errorf("creation info %+v, want the commit's time in UTC", doc.CreationInfo)
			}
			bi := readBuildInfo(t, tc.binary)
			want := map[string]pkgInfo{
				"Image": {Name: in.Name, Version: img.Descriptor.Digest.String(), Purpose: "CONTAINER", Download: "NOASSERTION",
					Purl:      "pkg:oci/hello@sha256%3A" + img.Descriptor.Digest.Hex + "?arch=arm64&repository_url=registry.example.com%2Fteam%2Fhello",
					Checksums: []string{"SHA256:" + img.Descriptor.Digest.Hex}},
				"Application": {Name: bi.Main.Path, Version: "v1.2.3", Purpose: "APPLICATION",
					Download: "git+https://github.com/acme/hello@" + commit, Purl: "pkg:golang/" + bi.Main.Path + "@v1.2.3",
					Comment: "commit " + commit},
				// The standard library as syft names it (see stdlibWant).
				"Stdlib": stdlibWant(t, bi.GoVersion),
				"Base": {Name: in.Base, Version: img.BaseDigest.String(), Purpose: "CONTAINER", Download: "NOASSERTION",
					Purl:      "pkg:oci/base@sha256%3A" + img.BaseDigest.Hex + "?arch=arm64&repository_url=127.0.0.1%3A5000%2Fbase",
					Checksums: []string{"SHA256:" + img.BaseDigest.Hex}},
			}
			wantRels := []string{"DOCUMENT DESCRIBES Image", "Image CONTAINS Application", "Image DESCENDANT_OF Base", "Application DEPENDS_ON Stdlib"}
			// No module has a checksum: the go.sum "h1:" hash is no SHA-256
			// of the zip named as download location; it is only a comment.
			var wantLibs []pkgInfo
			for _, m := range bi.Deps {
				wantLibs = append(wantLibs, pkgInfo{Name: m.Path, Version: m.Version, Purpose: "LIBRARY",
					Download: "https://proxy.golang.org/" + m.Path + "/@v/" + m.Version + ".zip",
					Purl:     "pkg:golang/" + m.Path + "@" + m.Version, Comment: "go.sum hash " + m.Sum})
			}
			var libs []pkgInfo
			for id, p := range pkgs {
				if p.Purpose == "LIBRARY" && id != "Stdlib" {
					libs = append(libs, p)
					wantRels = append(wantRels, "Application DEPENDS_ON "+id)
					continue
				}
				if diff := cmp.Diff(want[id], p); diff != "" {
					t.Errorf("package SPDXRef-%s (-want +got):\n%s", id, diff)
				}
			}
			sort.Slice(libs, func(i, j int) bool { return libs[i].Name < libs[j].Name })
			sort.Slice(wantLibs, func(i, j int) bool { return wantLibs[i].Name < wantLibs[j].Name })
			if diff := cmp.Diff(wantLibs, libs); diff != "" {
				t.Errorf("one package per module dependency (-want +got):\n%s", diff)
			}
			if len(libs) < tc.minDeps || len(pkgs) != len(libs)+4 {
				t.Errorf("%d packages with %d modules, want 4 and at least %d modules", len(pkgs), len(libs), tc.minDeps)
			}
			sort.Strings(rels)
			sort.Strings(wantRels)
			if diff := cmp.Diff(wantRels, rels); diff != "" {
				t.Errorf("relationships (-want +got):\n%s", diff)
			}
			again, err := attest.SBOM(in, img)
			if err != nil {
				t.Fatalf("SBOM: %v", err)
			}
			if !bytes.Equal(data, again) {
				t.Errorf("two SBOMs of the same input differ")
			}
		})
	}
}

func TestSBOMDirectoryReplacement(t *testing.T) {
	in := input(replacedBinary(t))
	data, err := attest.SBOM(in, in.Images[0])
	if err != nil {
		t.Fatalf("SBOM: %v", err)
	}
	_, pkgs, _ := readSBOM(t, data)
	var libs []pkgInfo
	for id, p := range pkgs {
		if p.Purpose == "LIBRARY" && id != "Stdlib" {
			libs = append(libs, p)
		}
	}
	// The code is the directory's, not a release from the module proxy:
	// the record keeps the module's name and claims no version to fetch.
	want := []pkgInfo{{Name: "example.com/dep", Version: "(devel)", Purpose: "LIBRARY", Download: "NOASSERTION",
		Purl: "pkg:golang/example.com/dep", Comment: "replaced by the directory ./dep"}}
	if diff := cmp.Diff(want, libs); diff != "" {
		t.Errorf("the replaced module (-want +got):\n%s", diff)
	}
}

// TestSBOMApplicationVersion: only a release is a version of the main
// module, so only a release goes into its purl (as a module version, "v"
// first); any other version stays the package's version, and the purl has
// none, as syft writes a main module whose version it cannot tell.
func TestSBOMApplicationVersion(t *testing.T) {
	binary := tinyBinary(t)
	const mod = "example.com/hello"
	for _, tc := range []struct {
		version, wantVersion, wantPurl string
	}{
		{"v1.2.3", "v1.2.3", "pkg:golang/" + mod + "@v1.2.3"},
		{"1.2.3", "v1.2.3", "pkg:golang/" + mod + "@v1.2.3"},
		{"v2.0.0-rc.1", "v2.0.0-rc.1", "pkg:golang/" + mod + "@v2.0.0-rc.1"},
		{"v1.2.3-4-g0123abc", "v1.2.3-4-g0123abc", "pkg:golang/" + mod},
		{"v1.2.3-dirty", "v1.2.3-dirty", "pkg:golang/" + mod},
		{"v1.2.3-4-g0123abc-dirty", "v1.2.3-4-g0123abc-dirty", "pkg:golang/" + mod},
		{"642c92e", "642c92e", "pkg:golang/" + mod},
		{"642c92e-dirty", "642c92e-dirty", "pkg:golang/" + mod},
		{"dev", "dev", "pkg:golang/" + mod},
		{"v1.2", "v1.2", "pkg:golang/" + mod},
		{"v1.2.3+meta", "v1.2.3+meta", "pkg:golang/" + mod},
	} {
		t.Run(tc.version, func(t *testing.T) {
			in := input(binary)
			in.Version = tc.version
			data, err := attest.SBOM(in, in.Images[0])
			if err != nil {
				t.Fatalf("SBOM: %v", err)
			}
			_, pkgs, _ := readSBOM(t, data)
			app := pkgs["Application"]
			if diff := cmp.Diff([]string{mod, tc.wantVersion, tc.wantPurl}, []string{app.Name, app.Version, app.Purl}); diff != "" {
				t.Errorf("application name, version, purl (-want +got):\n%s", diff)
			}
		})
	}
}
