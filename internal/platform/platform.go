// Package platform reads, compares, sorts and prints the platforms images are
// built for: linux on the architectures Go compiles static binaries for.
package platform

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// linuxArches are the GOARCH values Go can compile for linux, with the
// variants each accepts ("" for none).
var linuxArches = map[string][]string{
	"386":      {""},
	"amd64":    {"", "v1", "v2", "v3", "v4"},
	"arm":      {"", "v5", "v6", "v7"},
	"arm64":    {"", "v8"},
	"loong64":  {""},
	"mips":     {""},
	"mipsle":   {""},
	"mips64":   {""},
	"mips64le": {""},
	"ppc64":    {""},
	"ppc64le":  {""},
	"riscv64":  {""},
	"s390x":    {""},
}

// Parse reads "os/arch[/variant]" and checks that Go can compile a static
// binary for it.
func Parse(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return v1.Platform{}, fmt.Errorf("platform %q is not of the form os/arch[/variant], e.g. linux/amd64", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	if p.OS != "linux" {
		return v1.Platform{}, fmt.Errorf("platform %q: only linux images are supported", s)
	}
	variants, ok := linuxArches[p.Architecture]
	if !ok {
		return v1.Platform{}, fmt.Errorf("platform %q: unknown architecture %q (try amd64, arm64, arm/v7, ppc64le, s390x, riscv64)", s, p.Architecture)
	}
	if slices.Contains(variants, p.Variant) {
		return p, nil
	}
	return v1.Platform{}, fmt.Errorf("platform %q: %s has no variant %q (known: %s)", s, p.Architecture, p.Variant, strings.Join(variants[1:], ", "))
}

// ParseList reads a comma-separated list of platforms, sorted and without
// repeats (see Sort).
func ParseList(s string) ([]v1.Platform, error) {
	var ps []v1.Platform
	for _, one := range strings.Split(s, ",") {
		p, err := Parse(strings.TrimSpace(one))
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return Sort(ps), nil
}

// Normalize drops the variant arm64 images carry without need, and any
// field beyond OS, architecture and variant.
func Normalize(p v1.Platform) v1.Platform {
	out := v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
	if out.Architecture == "arm64" && out.Variant == "v8" {
		out.Variant = ""
	}
	return out
}

// Same reports whether a and b are one platform (arm64's "v8" variant or
// none alike).
func Same(a, b v1.Platform) bool {
	a, b = Normalize(a), Normalize(b)
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant
}

// Contains reports whether ps holds p, as Same compares them.
func Contains(ps []v1.Platform, p v1.Platform) bool {
	return slices.ContainsFunc(ps, func(o v1.Platform) bool { return Same(o, p) })
}

// Sort sorts ps in place by their "os/arch/variant" form and drops repeats,
// so that what is built from them does not depend on the order they were
// given in. It returns the shortened slice.
func Sort(ps []v1.Platform) []v1.Platform {
	slices.SortFunc(ps, func(a, b v1.Platform) int { return strings.Compare(a.String(), b.String()) })
	return slices.CompactFunc(ps, func(a, b v1.Platform) bool { return a.String() == b.String() })
}

// List writes platforms as "linux/amd64, linux/arm64".
func List(ps []v1.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
