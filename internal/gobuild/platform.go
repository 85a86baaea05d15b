package gobuild

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

// ParsePlatform reads "os/arch[/variant]" and checks that Go can compile a
// static binary for it.
func ParsePlatform(s string) (v1.Platform, error) {
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
	for _, v := range variants {
		if v == p.Variant {
			return p, nil
		}
	}
	return v1.Platform{}, fmt.Errorf("platform %q: %s has no variant %q (known: %s)", s, p.Architecture, p.Variant, strings.Join(variants[1:], ", "))
}

// goEnv returns the GOOS, GOARCH and variant settings for p.
func goEnv(p v1.Platform) []string {
	env := []string{"GOOS=" + p.OS, "GOARCH=" + p.Architecture}
	switch p.Architecture {
	case "arm":
		if p.Variant != "" {
			env = append(env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
		}
	case "amd64":
		if p.Variant != "" {
			env = append(env, "GOAMD64="+p.Variant)
		}
	}
	return env
}
