package platform_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/platform"
)

func TestParse(t *testing.T) {
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
			got, err := platform.Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
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
			if p, err := platform.Parse(in); err == nil {
				t.Errorf("Parse(%q) = %+v, want an error", in, p)
			}
		})
	}
}

func TestParseListSortsAndDedupes(t *testing.T) {
	for _, in := range []string{"linux/arm64,linux/amd64", "linux/amd64, linux/arm64", "linux/arm64,linux/amd64,linux/arm64"} {
		got, err := platform.ParseList(in)
		if err != nil {
			t.Fatalf("ParseList(%q): %v", in, err)
		}
		if s := platform.List(got); s != "linux/amd64, linux/arm64" {
			t.Errorf("ParseList(%q) = %s, want linux/amd64, linux/arm64", in, s)
		}
	}
	if _, err := platform.ParseList("linux/amd64,,linux/arm64"); err == nil {
		t.Error("ParseList with an empty entry: want an error")
	}
}

func TestSame(t *testing.T) {
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	v8 := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	armv7 := v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	armv6 := v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}
	if !platform.Same(arm64, v8) {
		t.Error("arm64 and arm64/v8 should be the same platform")
	}
	if platform.Same(armv7, armv6) {
		t.Error("arm/v7 and arm/v6 should differ")
	}
	if !platform.Contains([]v1.Platform{armv7, v8}, arm64) || platform.Contains([]v1.Platform{armv7}, armv6) {
		t.Error("Contains disagrees with Same")
	}
}
