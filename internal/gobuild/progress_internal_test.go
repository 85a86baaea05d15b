package gobuild

import "testing"

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
	} {
		if got := fit(c.line, c.width); got != c.want {
			t.Errorf("fit(%q, %d) = %q, want %q", c.line, c.width, got, c.want)
		}
	}
}
