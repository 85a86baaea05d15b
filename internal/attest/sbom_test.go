package attest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
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

// pkgInfo is what the tests read of an SPDX package.
type pkgInfo struct {
	Name, Version, Purpose, Download string
	Purl, SHA256                     string
}

func infoOf(p *spdx.Package) pkgInfo {
	info := pkgInfo{Name: p.PackageName, Version: p.PackageVersion, Purpose: p.PrimaryPackagePurpose, Download: p.PackageDownloadLocation}
	for _, r := range p.PackageExternalReferences {
		if r.RefType == "purl" {
			info.Purl = r.Locator
		}
	}
	for _, c := range p.PackageChecksums {
		if c.Algorithm == common.SHA256 {
			info.SHA256 = c.Value
		}
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
		pkgs[id] = infoOf(p)
	}
	var rels []string
	for _, r := range doc.Relationships {
		rels = append(rels, string(r.RefA.ElementRefID)+" "+r.Relationship+" "+string(r.RefB.ElementRefID))
	}
	return doc, pkgs, rels
}

// h1Hex is the hex of a go.sum "h1:" hash, "" for none.
func h1Hex(t *testing.T, sum string) string {
	t.Helper()
	if sum == "" {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sum, "h1:"))
	if err != nil {
		t.Fatalf("decoding %s: %v", sum, err)
	}
	return hex.EncodeToString(raw)
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
					Purl:   "pkg:oci/hello@sha256%3A" + img.Descriptor.Digest.Hex + "?arch=arm64&repository_url=registry.example.com%2Fteam%2Fhello",
					SHA256: img.Descriptor.Digest.Hex},
				"Application": {Name: bi.Main.Path, Version: "v1.2.3", Purpose: "APPLICATION",
					Download: "git+https://github.com/acme/hello@" + commit, Purl: "pkg:golang/" + bi.Main.Path + "@v1.2.3"},
				"Go": {Name: "go", Version: bi.GoVersion, Purpose: "APPLICATION", Download: "NOASSERTION",
					Purl: "pkg:golang/stdlib@" + bi.GoVersion},
				"Base": {Name: in.Base, Version: img.BaseDigest.String(), Purpose: "CONTAINER", Download: "NOASSERTION",
					Purl:   "pkg:oci/base@sha256%3A" + img.BaseDigest.Hex + "?arch=arm64&repository_url=127.0.0.1%3A5000%2Fbase",
					SHA256: img.BaseDigest.Hex},
			}
			wantRels := []string{"DOCUMENT DESCRIBES Image", "Image CONTAINS Application", "Image DESCENDANT_OF Base", "Go BUILD_TOOL_OF Application"}
			var wantLibs []pkgInfo
			for _, m := range bi.Deps {
				wantLibs = append(wantLibs, pkgInfo{Name: m.Path, Version: m.Version, Purpose: "LIBRARY",
					Download: "https://proxy.golang.org/" + m.Path + "/@v/" + m.Version + ".zip",
					Purl:     "pkg:golang/" + m.Path + "@" + m.Version, SHA256: h1Hex(t, m.Sum)})
			}
			var libs []pkgInfo
			for id, p := range pkgs {
				if p.Purpose == "LIBRARY" {
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
	for _, p := range pkgs {
		if p.Purpose == "LIBRARY" {
			libs = append(libs, p)
		}
	}
	// The code is the directory's, not a release from the module proxy:
	// the record keeps the module's name and claims no version to fetch.
	want := []pkgInfo{{Name: "example.com/dep", Version: "(devel)", Purpose: "LIBRARY", Download: "NOASSERTION",
		Purl: "pkg:golang/example.com/dep"}}
	if diff := cmp.Diff(want, libs); diff != "" {
		t.Errorf("the replaced module (-want +got):\n%s", diff)
	}
}
