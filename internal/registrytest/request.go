package registrytest

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Kinds of registry requests, as the middleware records them.
const (
	KindPing           = "ping"            // GET /v2/
	KindBlobRead       = "blob-read"       // HEAD or GET of a blob
	KindUpload         = "upload"          // POST, PATCH or PUT under /blobs/uploads/
	KindManifestDigest = "manifest-digest" // PUT of a manifest by digest
	KindManifestTag    = "manifest-tag"    // PUT of a manifest by tag
	KindManifestRead   = "manifest-read"   // HEAD or GET of a manifest
	KindTagList        = "tag-list"        // GET of the tag list
	KindOther          = "other"           // anything else: referrers, catalog
)

// Request is one request the middleware saw.
type Request struct {
	// Method is the request's HTTP method and Kind one of the Kind
	// constants.
	Method, Kind string
	// Repo is the repository the request names; empty when it names none,
	// as a ping.
	Repo string
	// Query is the request's query, such as ?mount=DIGEST&from=REPO.
	Query url.Values
	// Served is false when the middleware answered it itself: a fault,
	// missing credentials, or a held upload.
	Served bool
}

var registryPath = regexp.MustCompile(`^/v2/(.+?)/(blobs|manifests|tags)/(.*)$`)

// classify returns the kind and repository of req.
func classify(req *http.Request) (kind, repo string) {
	if req.URL.Path == "/v2/" {
		return KindPing, ""
	}
	m := registryPath.FindStringSubmatch(req.URL.Path)
	if m == nil {
		return KindOther, ""
	}
	repo, what, rest := m[1], m[2], m[3]
	switch {
	case what == "blobs" && strings.HasPrefix(rest, "uploads") && req.Method != http.MethodGet && req.Method != http.MethodHead:
		return KindUpload, repo
	case what == "blobs":
		return KindBlobRead, repo
	case what == "manifests" && req.Method == http.MethodPut && strings.HasPrefix(rest, "sha256:"):
		return KindManifestDigest, repo
	case what == "manifests" && req.Method == http.MethodPut:
		return KindManifestTag, repo
	case what == "manifests" && (req.Method == http.MethodGet || req.Method == http.MethodHead):
		return KindManifestRead, repo
	case what == "tags" && rest == "list":
		return KindTagList, repo
	}
	return KindOther, repo
}
