// Package release decides which tags a release publishes — the exact
// SemVer tag, the floating major.minor, major and latest tags (never moved
// backwards), a git-<commit> tag, and any extra tags — and writes them once
// the image is in the registry.
package release

import (
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Release is a SemVer 2.0 version as given on the command line.
type Release struct {
	// Tag is the version as given, "v1.2.0" or "1.2.0".
	Tag string
	// Prefix is "v" when the version was given with one.
	Prefix  string
	version *semver.Version
}

// Parse reads a SemVer 2.0 version with an optional leading "v".
func Parse(tag string) (Release, error) {
	prefix := ""
	bare := tag
	if strings.HasPrefix(tag, "v") {
		prefix, bare = "v", tag[1:]
	}
	v, err := semver.StrictNewVersion(bare)
	if err != nil {
		return Release{}, fmt.Errorf("--tag %q is not a SemVer 2.0 version such as v1.2.0 or v1.3.0-rc.1: %w", tag, err)
	}
	if v.Metadata() != "" {
		return Release{}, fmt.Errorf("--tag %q: build metadata (+%s) cannot appear in an image tag; drop it", tag, v.Metadata())
	}
	return Release{Tag: tag, Prefix: prefix, version: v}, nil
}

// Prerelease reports whether the version has a pre-release part.
func (r Release) Prerelease() bool { return r.version.Prerelease() != "" }

// Floating returns the tags that follow the newest release: major.minor,
// major and latest; none for a pre-release.
func (r Release) Floating() []string {
	if r.Prerelease() {
		return nil
	}
	v := r.version
	return []string{
		fmt.Sprintf("%s%d.%d", r.Prefix, v.Major(), v.Minor()),
		fmt.Sprintf("%s%d", r.Prefix, v.Major()),
		"latest",
	}
}

// Decision says whether a floating tag moves to this release.
type Decision struct {
	Tag string
	// Move is false when a newer release already holds the tag.
	Move bool
	// Newer is that newer release's tag, when Move is false.
	Newer string
}

// Decide returns, for each floating tag, whether it moves to r given the
// tags the repository already has. A floating tag moves unless the
// repository holds a newer release (not a pre-release) in its range: v1.2
// covers 1.2.x, v1 covers 1.x.y, latest covers everything.
func (r Release) Decide(existing []string) []Decision {
	var releases []*semver.Version
	names := map[*semver.Version]string{}
	for _, t := range existing {
		v, err := semver.StrictNewVersion(strings.TrimPrefix(t, "v"))
		if err != nil || v.Prerelease() != "" {
			continue
		}
		releases = append(releases, v)
		names[v] = t
	}
	sort.Sort(sort.Reverse(semver.Collection(releases)))
	floating := r.Floating()
	out := make([]Decision, 0, len(floating))
	for i, f := range floating {
		d := Decision{Tag: f, Move: true}
		for _, v := range releases {
			if inRange(i, v, r.version) && v.GreaterThan(r.version) {
				d.Move, d.Newer = false, names[v]
				break
			}
		}
		out = append(out, d)
	}
	return out
}

// inRange reports whether v falls under floating tag i (0 major.minor,
// 1 major, 2 latest) of release r.
func inRange(i int, v, r *semver.Version) bool {
	switch i {
	case 0:
		return v.Major() == r.Major() && v.Minor() == r.Minor()
	case 1:
		return v.Major() == r.Major()
	default:
		return true
	}
}

// Git returns the tag that names the commit: "git-<short sha>".
func Git(shortCommit string) string { return "git-" + shortCommit }
