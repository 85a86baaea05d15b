package base_test

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/layers"
)

func imageOfLayers(t *testing.T, ls ...[]layers.Entry) v1.Image {
	t.Helper()
	img := empty.Image
	for _, entries := range ls {
		l, err := layers.NewLayer(entries)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func file(p, content string) layers.Entry {
	return layers.Entry{Path: p, Mode: 0o644, Data: []byte(content)}
}

// TestReadAccounts reads the topmost /etc/passwd and /etc/group, and
// honours whiteouts.
func TestReadAccounts(t *testing.T) {
	lower := []layers.Entry{file("etc/passwd", "root:x:0:0::/:/bin/sh\nold:x:1000:1000::/:/bin/sh\n"), file("etc/group", "root:x:0:\nold:x:1000:\n")}
	upper := []layers.Entry{file("etc/passwd", "root:x:0:0::/:/bin/sh\napp:x:2000:3000::/:/bin/sh\ntoor:x:0:0::/:/bin/sh\n")}
	acc, err := base.ReadAccounts(imageOfLayers(t, lower, upper))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user     string
		uid, gid int
		err      bool
	}{
		{"app", 2000, 3000, false},
		{"app:old", 2000, 1000, false}, // the lower /etc/group still holds
		{"toor", 0, 0, false},
		{"old", 0, 0, true}, // hidden by the upper /etc/passwd
		{"2000", 2000, 3000, false},
		{"4242", 4242, 4242, false},
		{"2000:7", 2000, 7, false},
		{"app:nogroup", 0, 0, true},
	} {
		uid, gid, err := acc.Resolve(tc.user)
		if (err != nil) != tc.err || (!tc.err && (uid != tc.uid || gid != tc.gid)) {
			t.Errorf("Resolve(%q) = %d:%d, %v; want %d:%d (error %v)", tc.user, uid, gid, err, tc.uid, tc.gid, tc.err)
		}
	}
	hidden := []layers.Entry{file("etc/.wh.group", "")}
	acc, err = base.ReadAccounts(imageOfLayers(t, lower, hidden))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.Resolve("1000:old"); err == nil {
		t.Error("a whited-out /etc/group still resolves its groups")
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "00": 0, "+0": 0, "-0": 0, "65532": 65532, "007": 7, "-1": -1} {
		if got, ok := base.ParseID(in); !ok || got != want {
			t.Errorf("ParseID(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "root", "1a", "+-0", "0+", "1 ", "99999999999"} {
		if got, ok := base.ParseID(in); ok {
			t.Errorf("ParseID(%q) = %d, want not a number", in, got)
		}
	}
}
