package push

import (
	"bytes"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func hash(hex string) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(hex, 64)} }

// TestProgressPlain: without a terminal, one plain line per layer when it
// is done, and no escape sequences.
func TestProgressPlain(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{W: &buf}
	a, b := p.Layer(hash("a"), 3<<20), p.Layer(hash("b"), 512)
	a.Sent(1 << 20)
	if buf.Len() != 0 {
		t.Fatalf("plain progress printed %q before any layer was done", buf.String())
	}
	a.Sent(2 << 20)
	a.Done("uploaded")
	b.Done("exists")
	want := "layer aaaaaaaaaaaa 3.0 MiB uploaded\nlayer bbbbbbbbbbbb 512 B exists\n"
	if buf.String() != want {
		t.Errorf("plain progress:\n%q\nwant\n%q", buf.String(), want)
	}
}

// TestProgressLive: on a terminal, every layer has a line that is redrawn
// in place as bytes go out, ending with its final state.
func TestProgressLive(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{W: &buf, Live: true}
	a, b := p.Layer(hash("a"), 2<<20), p.Layer(hash("b"), 1<<20)
	a.Sent(1 << 20)
	if !strings.Contains(buf.String(), "layer aaaaaaaaaaaa 1.0 MiB/2.0 MiB") {
		t.Errorf("live progress shows no partial count:\n%q", buf.String())
	}
	b.Done("exists")
	a.Sent(1 << 20)
	a.Done("uploaded")
	out := buf.String()
	if !strings.Contains(out, "\x1b[2A") {
		t.Errorf("live progress never moved the cursor back over its %d lines:\n%q", 2, out)
	}
	last := out[strings.LastIndex(out, "\x1b[2A"):]
	for _, want := range []string{"layer aaaaaaaaaaaa 2.0 MiB uploaded", "layer bbbbbbbbbbbb 1.0 MiB exists"} {
		if !strings.Contains(last, want) {
			t.Errorf("last redraw lacks %q:\n%q", want, last)
		}
	}
}
