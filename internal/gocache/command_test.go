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
		{"run", "/opt/b", Store{Dir: "/c", Repo: "r.lan/c", Run: "0a1b"}, nil,
			[]string{"/opt/b", "gocacheprog", "--dir", "/c", "--repo", "r.lan/c", "--run", "0a1b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := Command(tc.exe, tc.s, tc.insecure)
			if err != nil {
				t.Fatalf("Command: %v", err)
			}
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

// TestCommandBothQuotes: a path holding both kinds of quote cannot be
// given to the go command, and says so rather than run something else.
func TestCommandBothQuotes(t *testing.T) {
	for _, s := range []Store{{Dir: `/tmp/it's "here"`}, {Dir: "/c", Repo: `r/it's"`}} {
		cmd, err := Command("/opt/b", s, nil)
		if err == nil || !strings.Contains(err.Error(), "both kinds of quote") {
			t.Errorf("Command(%+v) = %q, %v; want it refused", s, cmd, err)
		}
	}
	if _, err := Command(`/opt/it's "b"`, Store{Dir: "/c"}, nil); err == nil {
		t.Error("an executable holding both quotes was not refused")
	}
}
