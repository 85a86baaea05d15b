package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/layers"
)

// content returns a producer of a tar stream holding n pseudo-random,
// partly compressible bytes.
func content(n int, seed int64) Producer {
	data := make([]byte, n)
	r := rand.New(rand.NewSource(seed))
	for i := range data {
		if i%4 == 0 {
			data[i] = byte(r.Intn(256))
		} else {
			data[i] = byte(i)
		}
	}
	tar, err := layers.Tar([]layers.Entry{{Path: "usr/local/bin/app", Mode: 0o555, Data: data}})
	if err != nil {
		panic(err)
	}
	return tar
}

func digest(t testing.TB, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return d
}

func mustLayer(t testing.TB, c Cache, p Producer) v1.Layer {
	t.Helper()
	l, err := c.Layer(p)
	if err != nil {
		t.Fatalf("Layer: %v", err)
	}
	return l
}

func TestLayerIsValidAndStable(t *testing.T) {
	p := content(1<<20, 1)
	cached := mustLayer(t, Cache{Dir: t.TempDir()}, p)
	if err := validate.Layer(cached); err != nil {
		t.Fatalf("validate.Layer: %v", err)
	}
	uncached := mustLayer(t, Cache{Scratch: t.TempDir()}, p)
	if digest(t, cached) != digest(t, uncached) {
		t.Errorf("cached %s and uncached %s layers differ", digest(t, cached), digest(t, uncached))
	}
	var buf bytes.Buffer
	if err := p(&buf); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	diffID, err := cached.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	if diffID.Hex != hex.EncodeToString(sum[:]) {
		t.Errorf("DiffID %s is not the content's sha256", diffID)
	}
}

func TestLayerHitsTheCache(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	calls := 0
	inner := content(1<<16, 2)
	p := func(w io.Writer) error { calls++; return inner(w) }
	first := mustLayer(t, c, p)
	missCalls := calls
	second := mustLayer(t, c, p)
	if digest(t, first) != digest(t, second) {
		t.Fatalf("same content, digests %s and %s", digest(t, first), digest(t, second))
	}
	if got := calls - missCalls; got != 1 {
		t.Errorf("a hit produced the content %d times, want once (to hash it)", got)
	}
	if missCalls != 2 {
		t.Errorf("a miss produced the content %d times, want twice (hash, then compress)", missCalls)
	}
}

func TestCorruptEntryIsRebuilt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, blob string)
	}{
		{"truncated", func(t *testing.T, blob string) {
			if err := os.Truncate(blob, 100); err != nil {
				t.Fatal(err)
			}
		}},
		{"flipped byte", func(t *testing.T, blob string) {
			data, err := os.ReadFile(blob)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(blob, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing blob", func(t *testing.T, blob string) {
			if err := os.Remove(blob); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage metadata", func(t *testing.T, blob string) {
			if err := os.WriteFile(filepath.Join(filepath.Dir(blob), "meta.json"), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Cache{Dir: t.TempDir()}
			p := content(1<<18, 3)
			want := digest(t, mustLayer(t, c, p))
			blobs, err := filepath.Glob(filepath.Join(c.Dir, "layers", settings, "*", "blob"))
			if err != nil || len(blobs) != 1 {
				t.Fatalf("finding the cached blob: %v, %v", blobs, err)
			}
			tc.corrupt(t, blobs[0])
			l := mustLayer(t, c, p)
			if got := digest(t, l); got != want {
				t.Errorf("rebuilt layer has digest %s, want %s", got, want)
			}
			if err := validate.Layer(l); err != nil {
				t.Errorf("rebuilt layer is not sound: %v", err)
			}
		})
	}
}

func TestConcurrentBuildsShareTheCache(t *testing.T) {
	dir := t.TempDir()
	p := content(1<<20, 4)
	const n = 8
	digests := make([]v1.Hash, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Cache{Dir: dir}.Layer(p)
			if err != nil {
				t.Errorf("Layer: %v", err)
				return
			}
			digests[i] = digest(t, l)
			if err := validate.Layer(l); err != nil {
				t.Errorf("validate.Layer: %v", err)
			}
		}()
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if digests[i] != digests[0] {
			t.Errorf("build %d got %s, build 0 got %s", i, digests[i], digests[0])
		}
	}
	entries, err := filepath.Glob(filepath.Join(dir, "layers", settings, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("cache holds %v, want one entry and no leftovers", entries)
	}
}

func BenchmarkLayerMiss(b *testing.B) {
	p := content(16<<20, 5)
	b.SetBytes(16 << 20)
	b.ReportAllocs()
	for b.Loop() {
		mustLayer(b, Cache{Dir: b.TempDir()}, p)
	}
}

func BenchmarkLayerHit(b *testing.B) {
	p := content(16<<20, 6)
	c := Cache{Dir: b.TempDir()}
	mustLayer(b, c, p)
	b.SetBytes(16 << 20)
	b.ReportAllocs()
	for b.Loop() {
		mustLayer(b, c, p)
	}
}

func TestKeyedLayerSkipsHashing(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	calls := 0
	inner := content(1<<16, 7)
	p := func(w io.Writer) error { calls++; return inner(w) }
	first, err := c.KeyedLayer(Key{Content: "id-1"}, p)
	if err != nil {
		t.Fatalf("KeyedLayer: %v", err)
	}
	before := calls
	second, err := c.KeyedLayer(Key{Content: "id-1"}, p)
	if err != nil {
		t.Fatalf("KeyedLayer: %v", err)
	}
	if calls != before {
		t.Errorf("a known key read the content %d more times, want none", calls-before)
	}
	if digest(t, first) != digest(t, second) {
		t.Errorf("digests %s and %s differ", digest(t, first), digest(t, second))
	}
	// A key whose entry went bad falls back to the content.
	blobs, err := filepath.Glob(filepath.Join(c.Dir, "layers", settings, "*", "blob"))
	if err != nil || len(blobs) != 1 {
		t.Fatalf("finding the cached blob: %v, %v", blobs, err)
	}
	if err := os.Truncate(blobs[0], 10); err != nil {
		t.Fatal(err)
	}
	third, err := c.KeyedLayer(Key{Content: "id-1"}, p)
	if err != nil {
		t.Fatalf("KeyedLayer: %v", err)
	}
	if digest(t, third) != digest(t, first) {
		t.Errorf("rebuilt digest %s, want %s", digest(t, third), digest(t, first))
	}
	if err := validate.Layer(third); err != nil {
		t.Errorf("rebuilt layer is not sound: %v", err)
	}
}
