package pipeline_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/buildercli/builder/internal/registrytest"
)

// TestPublishAlsoWritesFiles: one publish pushes the image and writes the
// same image to a tarball and an OCI layout, with its SBOM and provenance.
func TestPublishAlsoWritesFiles(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	out := t.TempDir()
	o := options(committed(t, nil), reg.Host+"/team/hello", "v1.0.0")
	o.Tarball = filepath.Join(out, "app.tar")
	o.OCILayout = filepath.Join(out, "layout")
	o.SBOM = filepath.Join(out, "sbom.json")
	o.Provenance = filepath.Join(out, "provenance.json")
	res := run(t, o)

	tag, err := name.NewTag(reg.Host + "/team/hello:v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := remote.Image(tag, remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatalf("reading the pushed image: %v", err)
	}
	want, err := pushed.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	// A docker-archive keeps the config and layers, not the manifest.
	fromTar, err := tarball.ImageFromPath(o.Tarball, &tag)
	if err != nil {
		t.Fatalf("reading the tarball: %v", err)
	}
	if got, err := fromTar.ConfigName(); err != nil || got != want {
		t.Errorf("tarball config %s (%v), pushed config %s", got, err, want)
	}
	p, err := layout.FromPath(o.OCILayout)
	if err != nil {
		t.Fatalf("reading the layout: %v", err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != res.Digest {
		t.Errorf("layout holds %v, want the pushed %s", im.Manifests, res.Digest)
	}
	for _, f := range []string{o.SBOM, o.Provenance} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("%s was not written (%v)", f, err)
		}
	}
}
