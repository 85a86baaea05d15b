package registry

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestValidateTag(t *testing.T) {
	for tag, ok := range map[string]bool{
		"v1.2.0": true, "git-abc1234": true, "latest": true, "_x": true,
		"": false, ".x": false, "-x": false, "a/b": false, "a+b": false, strings.Repeat("a", 129): false,
	} {
		if err := ValidateTag(tag); (err == nil) != ok {
			t.Errorf("ValidateTag(%q) = %v, want ok=%v", tag, err, ok)
		}
	}
}

func TestShortName(t *testing.T) {
	for in, want := range map[string]string{
		"api":                      "api",
		"acme/api":                 "acme/api",
		"index.docker.io/acme/api": "acme/api",
		"ghcr.io/acme/api":         "ghcr.io/acme/api",
		"localhost:5000/api":       "localhost:5000/api",
	} {
		repo, err := name.NewRepository(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := ShortName(repo); got != want {
			t.Errorf("ShortName(%q) = %q, want %q", in, got, want)
		}
	}
}
