package gocache

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// split is cmd/internal/quoted.Split, as the go command splits
// GOCACHEPROG: spaces separate, single or double quotes group, nothing
// is escaped.
func split(s string) ([]string, error) {
	var f []string
	for len(s) > 0 {
		for len(s) > 0 && strings.ContainsRune(" \t\n\r", rune(s[0])) {
			s = s[1:]
		}
		if len(s) == 0 {
			break
		}
		if s[0] == '"' || s[0] == '\'' {
			quote := s[0]
			s = s[1:]
			i := strings.IndexByte(s, quote)
			if i < 0 {
				return nil, fmt.Errorf("unterminated %c string", quote)
			}
			f = append(f, s[:i])
			s = s[i+1:]
			continue
		}
		i := strings.IndexAny(s, " \t\n\r")
		if i < 0 {
			i = len(s)
		}
		f = append(f, s[:i])
		s = s[i:]
	}
	return f, nil
}

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		name     string
		exe      string
		s        Store
		insecure []string
		want     []string
	}{
		{"local", "/usr/bin/builder", Store{Dir: "/var/cache/go"}, nil,
			[]string{"/usr/bin/builder", "gocacheprog", "--dir", "/var/cache/go"}},
		{"spaces", "/home/me/my tools/builder", Store{Dir: "/home/me/Library/Caches/go build", Repo: "localhost:5000/cache/go"}, []string{"reg.lan:5000"},
			[]string{"/home/me/my tools/builder", "gocacheprog", "--dir", "/home/me/Library/Caches/go build", "--repo", "localhost:5000/cache/go", "--insecure-registry", "reg.lan:5000"}},
		{"quotes", `C:\Program Files\builder.exe`, Store{Dir: "/tmp/it's here"}, nil,
			[]string{`C:\Program Files\builder.exe`, "gocacheprog", "--dir", "/tmp/it's here"}},
		{"double quote", "/opt/b", Store{Dir: `/tmp/a "b"`}, nil,
			[]string{"/opt/b", "gocacheprog", "--dir", `/tmp/a "b"`}},
		{"tab and empty", "/opt/b\tc", Store{Dir: ""}, nil,
			[]string{"/opt/b\tc", "gocacheprog", "--dir", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := Command(tc.exe, tc.s, tc.insecure)
			got, err := split(cmd)
			if err != nil {
				t.Fatalf("splitting %q: %v", cmd, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("split(Command()) of %q (-want +got):\n%s", cmd, diff)
			}
		})
	}
}
