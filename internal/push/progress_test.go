package push

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
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

// TestProgressCountsEachByteOnce: when the registry drops the first upload
// of each layer and it starts over, each layer is shown with its size, not
// with the bytes of both attempts.
func TestProgressCountsEachByteOnce(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	const layers = 2
	reg.Inject(registrytest.Fault{Method: http.MethodPatch, Kind: registrytest.KindUpload, N: layers})
	img, err := random.Image(1<<20, layers)
	if err != nil {
		t.Fatalf("random.Image: %v", err)
	}
	var buf bytes.Buffer
	p := &Progress{W: &buf}
	c := registry.Client{Keychain: registrytest.Anonymous, Progress: p}
	s, err := c.Open(reg.Repo(t, "app"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	stats, err := s.Push(context.Background(), img)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatalf("Layers: %v", err)
	}
	var want []string
	var total int64
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatalf("Digest: %v", err)
		}
		size, err := l.Size()
		if err != nil {
			t.Fatalf("Size: %v", err)
		}
		total += size
		want = append(want, fmt.Sprintf("layer %s %s uploaded", d.Hex[:12], human(size)))
	}
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	sort.Strings(want)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("progress lines (-want +got):\n%s", diff)
	}
	if stats.UploadedBytes != total {
		t.Errorf("UploadedBytes = %d, want %d", stats.UploadedBytes, total)
	}
	if reg.Spoiled() != layers {
		t.Errorf("%d requests dropped, want %d: the fault did not apply", reg.Spoiled(), layers)
	}
}
