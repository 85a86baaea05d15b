package attest

import (
	"bytes"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
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
)

const noAssertion = "NOASSERTION"

// SBOM returns the SPDX 2.3 JSON document of one platform's image: the image,
// the application, every Go module compiled into the binary (from its build
// info, with versions and go.sum hashes), the Go toolchain, and the base.
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
		DocumentName:      fmt.Sprintf("%s %s %s", in.Name, in.Version, p),
		DocumentNamespace: "https://github.com/buildercli/builder/spdx/" + url.PathEscape(in.Name) + "/" + img.Descriptor.Digest.Hex,
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

// corePackages describes the image, the application, the Go toolchain and
// the base, and how they relate.
func corePackages(in Input, img Image, bi *debug.BuildInfo) ([]*spdx.Package, []*spdx.Relationship) {
	p := img.Descriptor.Platform
	image := pkg("SPDXRef-Image", in.Name, img.Descriptor.Digest.String(), purlOCI(in.Name, img.Descriptor.Digest.Hex, p.Architecture))
	image.PrimaryPackagePurpose = "CONTAINER"
	image.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: img.Descriptor.Digest.Hex}}
	app := pkg("SPDXRef-Application", bi.Main.Path, in.Version, "pkg:golang/"+bi.Main.Path+"@"+in.Version)
	app.PrimaryPackagePurpose = "APPLICATION"
	if in.Source != "" {
		app.PackageDownloadLocation = "git+" + in.Source + "@" + in.Commit
	}
	app.PackageComment = "commit " + in.Commit
	goPkg := pkg("SPDXRef-Go", "go", bi.GoVersion, "pkg:golang/stdlib@"+bi.GoVersion)
	goPkg.PrimaryPackagePurpose = "APPLICATION"
	basePkg := pkg("SPDXRef-Base", in.Base, img.BaseDigest.String(), purlOCI(in.Base, img.BaseDigest.Hex, p.Architecture))
	basePkg.PrimaryPackagePurpose = "CONTAINER"
	basePkg.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: img.BaseDigest.Hex}}
	return []*spdx.Package{image, app, goPkg, basePkg}, []*spdx.Relationship{
		rel("DOCUMENT", "DESCRIBES", "SPDXRef-Image"),
		rel("SPDXRef-Image", "CONTAINS", "SPDXRef-Application"),
		rel("SPDXRef-Image", "DESCENDANT_OF", "SPDXRef-Base"),
		rel("SPDXRef-Go", "BUILD_TOOL_OF", "SPDXRef-Application"),
	}
}

// modulePackage describes a Go module compiled into the binary.
func modulePackage(m *debug.Module) *spdx.Package {
	// A module replaced by a directory keeps its name: the directory's code
	// is no release the module proxy has.
	if dir := m.Replace; dir != nil && modfile.IsDirectoryPath(dir.Path) {
		dep := pkg(moduleID(m.Path, dir.Version), m.Path, dir.Version, "pkg:golang/"+m.Path)
		dep.PrimaryPackagePurpose = "LIBRARY"
		dep.PackageComment = "replaced by the directory " + dir.Path
		return dep
	}
	if m.Replace != nil {
		m = m.Replace
	}
	dep := pkg(moduleID(m.Path, m.Version), m.Path, m.Version, "pkg:golang/"+m.Path+"@"+m.Version)
	dep.PrimaryPackagePurpose = "LIBRARY"
	dep.PackageDownloadLocation = "https://proxy.golang.org/" + m.Path + "/@v/" + m.Version + ".zip"
	if sum, ok := h1Hex(m.Sum); ok {
		dep.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: sum}}
		dep.PackageComment = "checksum is the go.sum hash " + m.Sum
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

// purlOCI names an image as a package URL: pkg:oci/NAME@sha256:HEX.
func purlOCI(ref, hexDigest, arch string) string {
	repo := ref
	if i := strings.LastIndexAny(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	last := repo[strings.LastIndex(repo, "/")+1:]
	q := url.Values{}
	q.Set("arch", arch)
	if strings.Contains(repo, "/") {
		q.Set("repository_url", repo)
	}
	return "pkg:oci/" + strings.ToLower(last) + "@sha256%3A" + hexDigest + "?" + q.Encode()
}

// h1Hex turns a go.sum "h1:" hash (base64 SHA-256) into hex.
func h1Hex(sum string) (string, bool) {
	b64, ok := strings.CutPrefix(sum, "h1:")
	if !ok {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 32 {
		return "", false
	}
	return hex.EncodeToString(raw), true
}
