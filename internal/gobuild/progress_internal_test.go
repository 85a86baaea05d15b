package gobuild

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestFit: a live line is cut to the terminal's width, less one column,
// so that it never wraps and can be redrawn.
func TestFit(t *testing.T) {
	for _, c := range []struct {
		line  string
		width int
		want  string
	}{
		{"compiling api 3/10 packages", 0, "compiling api 3/10 packages"},
		{"compiling api 3/10 packages", 80, "compiling api 3/10 packages"},
		{"compiling api 3/10 packages", 28, "compiling api 3/10 packages"},
		{"compiling api 3/10 packages", 27, "compiling api 3/10 packag…"},
		{"compiling ünïcode", 10, "compilin…"},
		{"compiling api", 1, "compiling api"},
		{"compiling api", 2, "…"},
	} {
		if got := fit(c.line, c.width); got != c.want {
			t.Errorf("fit(%q, %d) = %q, want %q", c.line, c.width, got, c.want)
		}
	}
}

// TestPlainProgressLines: in CI, a build is named, with what it compiled
// so far and for how long, on a line of its own.
func TestPlainProgressLines(t *testing.T) {
	var out strings.Builder
	p := &Progress{W: &out}
	w := &watcher{p: p, what: "2 services", start: time.Now().Add(-3 * time.Second), out: &bytes.Buffer{}}
	for _, l := range []string{"example.com/lib\n", "example.com/cmd/api\n", "# example.com/cmd/worker\n"} {
		if _, err := w.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	p.add(w)
	p.show()
	if want := "compiling 2 services: 2 packages (3s)\n"; out.String() != want {
		t.Errorf("line %q, want %q", out.String(), want)
	}
	if got := w.out.String(); got != "# example.com/cmd/worker\n" {
		t.Errorf("kept %q as go's output, want the line that is not a package", got)
	}
}
