package attest

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

const noAssertion = "NOASSERTION"

// SBOM returns the SPDX 2.3 JSON document of one platform's image: the image,
// the application, every Go module compiled into the binary (from its build
// info, with versions and go.sum hashes), the Go standard library, and the
// base. Go packages are named as syft names them, so that scanners match
// them alike.
func SBOM(in Input, img Image) ([]byte, error) {
	bi, err := buildinfo.ReadFile(img.Binary)
	if err != nil {
		return nil, fmt.Errorf("reading the build info of %s: %w", img.Binary, err)
	}
	p := img.Descriptor.Platform
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      fmt.Sprintf("%s %s %s", in.imageName(), in.Version, p),
		DocumentNamespace: "https://github.com/buildercli/builder/spdx/" + url.PathEscape(in.imageName()) + "/" + img.Descriptor.Digest.Hex,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "builder-" + in.BuilderVersion}},
			Created:  in.Created.UTC().Format(time.RFC3339),
		},
	}
	doc.Packages, doc.Relationships = corePackages(in, img, bi)
	for _, m := range bi.Deps {
		dep := modulePackage(m)
		doc.Packages = append(doc.Packages, dep)
		doc.Relationships = append(doc.Relationships, rel("SPDXRef-Application", "DEPENDS_ON", "SPDXRef-"+string(dep.PackageSPDXIdentifier)))
	}
	var buf bytes.Buffer
	if err := json.Write(doc, &buf, json.Indent("  ")); err != nil {
		return nil, fmt.Errorf("encoding the SBOM: %w", err)
	}
	return buf.Bytes(), nil
}

// corePackages describes the image, the application, the Go standard
// library and the base, and how they relate.
func corePackages(in Input, img Image, bi *debug.BuildInfo) ([]*spdx.Package, []*spdx.Relationship) {
	p := img.Descriptor.Platform
	name := in.imageName()
	image := pkg("SPDXRef-Image", name, img.Descriptor.Digest.String(), purlOCI(name, img.Descriptor.Digest.Hex, p.Architecture))
	image.PrimaryPackagePurpose = "CONTAINER"
	image.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: img.Descriptor.Digest.Hex}}
	basePkg := pkg("SPDXRef-Base", in.Base, img.BaseDigest.String(), purlOCI(in.Base, img.BaseDigest.Hex, p.Architecture))
	basePkg.PrimaryPackagePurpose = "CONTAINER"
	basePkg.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: img.BaseDigest.Hex}}
	return []*spdx.Package{image, applicationPackage(in, bi.Main.Path), stdlibPackage(bi.GoVersion), basePkg}, []*spdx.Relationship{
		rel("DOCUMENT", "DESCRIBES", "SPDXRef-Image"),
		rel("SPDXRef-Image", "CONTAINS", "SPDXRef-Application"),
		rel("SPDXRef-Image", "DESCENDANT_OF", "SPDXRef-Base"),
		rel("SPDXRef-Application", "DEPENDS_ON", "SPDXRef-Stdlib"),
	}
}

// applicationPackage describes the main module, mainPath, at the version
// builder gave the build. Only a release (v1.2.3, 1.2.3, v2.0.0-rc.1) is a
// version of the module, so only a release goes into the purl, as the
// module version ("v" first): a build between tags (v1.2.3-4-gabc1234), of
// a dirty tree (-dirty), of a commit without a tag (abc1234) or "dev" is no
// release, and scanners would compare it as one. Its purl then has no
// version, as syft writes it when it cannot tell; the package keeps the
// build's version and the commit says which code it is.
func applicationPackage(in Input, mainPath string) *spdx.Package {
	version, purlVersion := in.Version, ""
	if v, ok := releaseVersion(in.Version); ok {
		version, purlVersion = v, v
	}
	app := pkg("SPDXRef-Application", mainPath, version, purlGolang(mainPath, purlVersion))
	app.PrimaryPackagePurpose = "APPLICATION"
	if in.Source != "" {
		app.PackageDownloadLocation = "git+" + in.Source + "@" + in.Commit
	}
	app.PackageComment = "commit " + in.Commit
	return app
}

// gitDescribed matches what git describe adds to a tag: commits since it
// and an abbreviated hash, or a dirty tree.
var gitDescribed = regexp.MustCompile(`-[0-9]+-g[0-9a-f]{4,}(-dirty)?$|-dirty$`)

// releaseVersion returns v as a Go module version when it names a release:
// a full semantic version with or without its "v", not a git describe of a
// later commit or of a dirty tree.
func releaseVersion(v string) (string, bool) {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) || semver.Canonical(v) != v || gitDescribed.MatchString(v) {
		return "", false
	}
	return v, true
}

// goRelease matches a Go release as the build info names its toolchain,
// go1.26.8 or go1.23rc1: the version and a release candidate or beta.
var goRelease = regexp.MustCompile(`^go([0-9]+(?:\.[0-9]+){0,2})([a-z]+[0-9]*)?$`)

// stdlibPackage describes the Go standard library compiled into the binary
// as syft does, which is what grype and trivy match the standard library's
// CVEs against: the package "stdlib" at the toolchain's version without
// "go" (1.26.8), the purl pkg:golang/stdlib@1.26.8 and the CPE
// cpe:2.3:a:golang:go:1.26.8:-:*:*:*:*:*:*, whose update is "-" for a
// release (none: it does not match 1.26.8's betas and candidates) and "rc1"
// for go1.27rc1. A GOEXPERIMENT suffix ("go1.26.8 X:…") is no part of the
// version; a toolchain that is no release gets no CPE.
func stdlibPackage(goVersion string) *spdx.Package {
	v, _, _ := strings.Cut(goVersion, " ")
	version := strings.TrimPrefix(v, "go")
	std := pkg("SPDXRef-Stdlib", "stdlib", version, purlGolang("stdlib", version))
	std.PrimaryPackagePurpose = "LIBRARY"
	std.PackageComment = "the standard library of " + goVersion
	if m := goRelease.FindStringSubmatch(v); m != nil {
		update := m[2]
		if update == "" {
			update = "-"
		}
		std.PackageExternalReferences = append(std.PackageExternalReferences, &spdx.PackageExternalReference{
			Category: "SECURITY", RefType: "cpe23Type", Locator: "cpe:2.3:a:golang:go:" + m[1] + ":" + update + ":*:*:*:*:*:*",
		})
	}
	return std
}

// modulePackage describes a Go module compiled into the binary.
func modulePackage(m *debug.Module) *spdx.Package {
	// A module replaced by a directory keeps its name: the directory's code
	// is no release the module proxy has.
	if dir := m.Replace; dir != nil && modfile.IsDirectoryPath(dir.Path) {
		dep := pkg(moduleID(m.Path, dir.Version), m.Path, dir.Version, purlGolang(m.Path, ""))
		dep.PrimaryPackagePurpose = "LIBRARY"
		dep.PackageComment = "replaced by the directory " + dir.Path
		return dep
	}
	if m.Replace != nil {
		m = m.Replace
	}
	dep := pkg(moduleID(m.Path, m.Version), m.Path, m.Version, purlGolang(m.Path, m.Version))
	dep.PrimaryPackagePurpose = "LIBRARY"
	if p, err := module.EscapePath(m.Path); err == nil {
		if v, err := module.EscapeVersion(m.Version); err == nil {
			dep.PackageDownloadLocation = "https://proxy.golang.org/" + p + "/@v/" + v + ".zip"
		}
	}
	// The go.sum hash is no checksum of that zip: "h1:" is a SHA-256 of a
	// list of the module's files with their own SHA-256s
	// (golang.org/x/mod/sumdb/dirhash), which SPDX has no algorithm for.
	// Given as a SHA256 checksum, it would fail any check of the download;
	// it is kept as written in go.sum, in a comment.
	if m.Sum != "" {
		dep.PackageComment = "go.sum hash " + m.Sum
	}
	return dep
}

func moduleID(path, version string) string {
	return "SPDXRef-Module-" + idSafe.ReplaceAllString(path+"-"+version, "-")
}

var idSafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func pkg(id, name, version, purl string) *spdx.Package {
	return &spdx.Package{
		PackageName:               name,
		PackageSPDXIdentifier:     common.ElementID(strings.TrimPrefix(id, "SPDXRef-")),
		PackageVersion:            version,
		PackageSupplier:           &common.Supplier{Supplier: noAssertion},
		PackageDownloadLocation:   noAssertion,
		FilesAnalyzed:             false,
		IsFilesAnalyzedTagPresent: true,
		PackageLicenseConcluded:   noAssertion,
		PackageLicenseDeclared:    noAssertion,
		PackageCopyrightText:      noAssertion,
		PackageExternalReferences: []*spdx.PackageExternalReference{
			{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: purl},
		},
	}
}

func rel(a, kind, b string) *spdx.Relationship {
	return &spdx.Relationship{
		RefA:         common.MakeDocElementID("", strings.TrimPrefix(a, "SPDXRef-")),
		RefB:         common.MakeDocElementID("", strings.TrimPrefix(b, "SPDXRef-")),
		Relationship: kind,
	}
}
