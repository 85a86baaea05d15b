package registry

import (
	"fmt"
	"regexp"
	"strings"
)

// The distribution spec's grammar for a repository name: an optional
// registry host[:port], then lowercase path components.
var (
	domainPart = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	domain     = domainPart + `(?:\.` + domainPart + `)*(?::[0-9]+)?`
	hostName   = regexp.MustCompile(`^` + domain + `$`)
	pathName   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
)

// ValidateRepository checks a repository name, REGISTRY/PATH or PATH,
// against the distribution spec's grammar, which go-containerregistry's
// parser does not wholly enforce (it takes "http://host/app" and
// "host/a//b").
func ValidateRepository(s string) error {
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		return fmt.Errorf("repository %q names a scheme: drop %s://, e.g. %s (plain HTTP is for loopback registries and --insecure-registry)", s, scheme, rest)
	}
	path := s
	// The first component names a registry when it has a dot or a port, or
	// is localhost; otherwise it is part of the path.
	if host, rest, ok := strings.Cut(s, "/"); ok && (strings.ContainsAny(host, ".:") || host == "localhost") {
		if !hostName.MatchString(host) {
			return fmt.Errorf("repository %q: %q is not a valid registry host[:port]", s, host)
		}
		path = rest
	}
	if len(s) > 255 || !pathName.MatchString(path) {
		return fmt.Errorf("repository %q is not a valid image name: use lowercase REGISTRY/PATH, e.g. ghcr.io/acme/app", s)
	}
	return nil
}
