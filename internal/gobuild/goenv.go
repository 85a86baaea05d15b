package gobuild

import (
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

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
