package layers_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/buildercli/builder/internal/layers"
)

// BenchmarkTar streams a 16 MiB binary through the deterministic tar
// writer, as the cache does to hash a layer.
func BenchmarkTar(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "app")
	if err := os.WriteFile(bin, make([]byte, 16<<20), 0o755); err != nil {
		b.Fatal(err)
	}
	tar, err := layers.Tar([]layers.Entry{{Path: "usr/local/bin/app", Mode: 0o555, Source: bin}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(16 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if err := tar(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
