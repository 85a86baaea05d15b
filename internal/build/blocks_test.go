package build

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/moduletest"
)

// A service of a few MiB whose version the tag sets.
const versioned = `package main

import (
	"fmt"
	"net/http"
)

var version = "dev"

func main() { fmt.Println(version, http.StatusOK) }
`

// appLayer is the image's last layer, the binary's.
func appLayer(t *testing.T, res Result) v1.Layer {
	t.Helper()
	ls, err := res.Image.Layers()
	if err != nil || len(ls) == 0 {
		t.Fatalf("Layers: %d, %v", len(ls), err)
	}
	return ls[len(ls)-1]
}

// TestBinaryLayerCopiesUnchangedBlocks: the next build of a service copies
// the blocks of its binary that did not change from the last layer of the
// same service, and the image is the one an empty cache makes.
func TestBinaryLayerCopiesUnchangedBlocks(t *testing.T) {
	o := options(moduletest.Hello(t, map[string]string{
		"hello/main.go": versioned,
		".ko.yaml":      "builds:\n- main: ./hello\n  ldflags: ['-X main.version={{.Git.Tag}}']\n",
	}))
	o.env.Cache.Dir = t.TempDir()
	o.Tag = "v1.0.0"
	first, _ := buildImage(t, o)
	if copied, blocks := cache.CopiedBlocks(appLayer(t, first)); copied != 0 || blocks < 3 {
		t.Fatalf("first build: %d of %d blocks copied, want none of 3 or more", copied, blocks)
	}
	o.Tag = "v1.0.1"
	second, _ := buildImage(t, o)
	copied, blocks := cache.CopiedBlocks(appLayer(t, second))
	if copied == 0 || copied == blocks {
		t.Errorf("a new version copied %d of %d blocks, want some but not all", copied, blocks)
	}
	o.env.Cache.Dir = t.TempDir()
	fresh, _ := buildImage(t, o)
	if fresh.Digest != second.Digest {
		t.Errorf("with copied blocks the image is %s, with an empty cache %s", second.Digest, fresh.Digest)
	}
	t.Logf("%d of %d blocks copied", copied, blocks)
}
