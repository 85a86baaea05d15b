package gobuild_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/gobuild"
)

func TestParsePlatform(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want v1.Platform
	}{
		{"linux/amd64", v1.Platform{OS: "linux", Architecture: "amd64"}},
		{"linux/arm64", v1.Platform{OS: "linux", Architecture: "arm64"}},
		{"linux/arm64/v8", v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{"linux/arm/v7", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{"linux/arm/v6", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{"linux/amd64/v3", v1.Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}},
		{"linux/s390x", v1.Platform{OS: "linux", Architecture: "s390x"}},
		{"linux/riscv64", v1.Platform{OS: "linux", Architecture: "riscv64"}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := gobuild.ParsePlatform(tc.in)
			if err != nil {
				t.Fatalf("ParsePlatform(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParsePlatform(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParsePlatformErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"linux",
		"linux/",
		"/amd64",
		"linux//",
		"linux/amd64/",
		"linux/arm/",
		"windows/amd64",
		"darwin/arm64",
		"Linux/amd64",
		"linux/sparc",
		"linux/x86_64",
		"linux/arm/v9",
		"linux/arm/7",
		"linux/amd64/v5",
		"linux/386/v1",
		"linux/arm64/v8/extra",
	} {
		t.Run(in, func(t *testing.T) {
			if p, err := gobuild.ParsePlatform(in); err == nil {
				t.Errorf("ParsePlatform(%q) = %+v, want an error", in, p)
			}
		})
	}
}
