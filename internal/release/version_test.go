package release

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in         string
		prerelease bool
		floating   []string
		wantErr    string
	}{
		{in: "v1.2.0", floating: []string{"v1.2", "v1", "latest"}},
		{in: "1.2.0", floating: []string{"1.2", "1", "latest"}},
		{in: "v10.20.30", floating: []string{"v10.20", "v10", "latest"}},
		{in: "v1.3.0-rc.1", prerelease: true},
		{in: "v1.2", wantErr: "not a SemVer 2.0 version"},
		{in: "v1", wantErr: "not a SemVer 2.0 version"},
		{in: "v01.2.0", wantErr: "not a SemVer 2.0 version"},
		{in: "latest", wantErr: "not a SemVer 2.0 version"},
		{in: "V1.2.0", wantErr: "not a SemVer 2.0 version"},
		{in: "v1.2.0+build.5", wantErr: "build metadata"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) = %v, want an error containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if r.Prerelease() != tc.prerelease {
				t.Errorf("Prerelease() = %v, want %v", r.Prerelease(), tc.prerelease)
			}
			if diff := cmp.Diff(tc.floating, r.Floating()); diff != "" {
				t.Errorf("Floating (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideNeverMovesBackwards(t *testing.T) {
	existing := []string{"v1.2.0", "v1.2", "v1", "latest", "v1.1.4", "v1.1", "v2.0.0-rc.1", "git-abc1234", "nightly"}
	for _, tc := range []struct {
		release string
		want    []Decision
	}{
		{"v1.1.5", []Decision{{Tag: "v1.1", Move: true}, {Tag: "v1", Newer: "v1.2.0"}, {Tag: "latest", Newer: "v1.2.0"}}},
		{"v1.2.1", []Decision{{Tag: "v1.2", Move: true}, {Tag: "v1", Move: true}, {Tag: "latest", Move: true}}},
		{"v1.2.0", []Decision{{Tag: "v1.2", Move: true}, {Tag: "v1", Move: true}, {Tag: "latest", Move: true}}},
		{"v1.0.9", []Decision{{Tag: "v1.0", Move: true}, {Tag: "v1", Newer: "v1.2.0"}, {Tag: "latest", Newer: "v1.2.0"}}},
		{"v0.9.0", []Decision{{Tag: "v0.9", Move: true}, {Tag: "v0", Move: true}, {Tag: "latest", Newer: "v1.2.0"}}},
		// A pre-release never counts as newer.
		{"v1.9.0", []Decision{{Tag: "v1.9", Move: true}, {Tag: "v1", Move: true}, {Tag: "latest", Move: true}}},
		{"v2.0.0-rc.2", []Decision{}},
	} {
		t.Run(tc.release, func(t *testing.T) {
			r, err := Parse(tc.release)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, r.Decide(existing)); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideComparesAcrossPrefixes(t *testing.T) {
	r, err := Parse("1.1.0")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got := r.Decide([]string{"v1.5.0"})
	want := []Decision{{Tag: "1.1", Move: true}, {Tag: "1", Newer: "v1.5.0"}, {Tag: "latest", Newer: "v1.5.0"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decide (-want +got):\n%s", diff)
	}
}
