package gocache

import (
	"fmt"
	"strings"
)

// Command returns the GOCACHEPROG value that runs exe's hidden
// subcommand for s: `exe gocacheprog --dir D [--repo R] [--run RUN]
// [--insecure-registry H]…`, each argument quoted as the go command splits
// them (cmd/internal/quoted: spaces separate, single or double quotes
// group, nothing is escaped). An argument holding both kinds of quote
// cannot be spelt so: it is an error.
func Command(exe string, s Store, insecure []string) (string, error) {
	args := []string{exe, "gocacheprog", "--dir", s.Dir}
	if s.Repo != "" {
		args = append(args, "--repo", s.Repo)
	}
	if s.Run != "" {
		args = append(args, "--run", s.Run)
	}
	for _, h := range insecure {
		args = append(args, "--insecure-registry", h)
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.Contains(a, "'") && strings.Contains(a, `"`) {
			return "", fmt.Errorf("%q holds both kinds of quote, which the go command cannot be given in GOCACHEPROG: move it to a path without them", a)
		}
		quoted[i] = quote(a)
	}
	return strings.Join(quoted, " "), nil
}

// quote spells a as one field of the go command's split.
func quote(a string) string {
	switch {
	case a != "" && !strings.ContainsAny(a, " \t\n\r'\""):
		return a
	case !strings.Contains(a, "'"):
		return "'" + a + "'"
	default:
		return `"` + a + `"`
	}
}
