package attest

import (
	"net/url"
	"strings"
)

// Package URLs (github.com/package-url/purl-spec) name packages as
// scanners look them up. Each path segment and the version are escaped as
// the reference implementation (and so syft) escapes them: "+" in a version
// such as v2.0.0+incompatible becomes %2B.

// purlGolang names a Go module, or the standard library as "stdlib":
// pkg:golang/MODULE/PATH@VERSION, with no version when version is "".
func purlGolang(path, version string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = purlEscape(s)
	}
	p := "pkg:golang/" + strings.Join(segs, "/")
	if version != "" {
		p += "@" + purlEscape(version)
	}
	return p
}

// purlOCI names an image by its digest: pkg:oci/NAME@sha256%3AHEX, with the
// repository it lives in (when ref names one beyond its last element) and
// the architecture (when arch is not "") as qualifiers.
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
	if arch != "" {
		q.Set("arch", arch)
	}
	if strings.Contains(repo, "/") {
		q.Set("repository_url", repo)
	}
	p := "pkg:oci/" + purlEscape(strings.ToLower(last)) + "@sha256%3A" + hexDigest
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// purlEscape percent-encodes a purl segment: what url.QueryEscape escapes,
// with a space as %20 rather than "+".
func purlEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
