package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	ociManifest  = "application/vnd.oci.image.manifest.v1+json"
	ociConfig    = "application/vnd.oci.image.config.v1+json"
	ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// TestOCILayout writes the same tag into one layout twice: the second run
// must replace the first's entry, and skopeo must find it by its tag.
func TestOCILayout(t *testing.T) {
	b := built(t)
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "layout")
	var digests []string
	for range 2 {
		d, err := b.image("--oci-layout", dir)
		if err != nil {
			t.Fatalf("%v", err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of one checkout printed %s and %s, want one digest", digests[0], digests[1])
	}
	digest := digests[1]

	named, total, data := readIndex(t, dir)
	if diff := cmp.Diff([]string{digest}, named); diff != "" {
		t.Errorf("index.json: digests named %s (-want +got):\n%s\n%s", tag, diff, data)
	}
	if total != 1 {
		t.Errorf("index.json lists %d manifests, want 1:\n%s", total, data)
	}

	var inspect struct{ Digest string }
	out := mustRun(t, "skopeo", "inspect", "oci:"+dir+":"+tag)
	if err := json.Unmarshal([]byte(out), &inspect); err != nil {
		t.Fatalf("decoding skopeo inspect: %v\n%s", err, out)
	}
	if inspect.Digest != digest {
		t.Errorf("skopeo inspect oci:%s:%s gives digest %s, builder printed %s", dir, tag, inspect.Digest, digest)
	}
	checkMediaTypes(t, mustRun(t, "skopeo", "inspect", "--raw", "oci:"+dir+":"+tag))
}

// readIndex reads the index.json of the layout in dir and returns the
// digests of the manifests named tag, the count of all, and the file.
func readIndex(t *testing.T, dir string) (named []string, total int, data []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatalf("reading the layout's index: %v", err)
	}
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatalf("decoding index.json: %v\n%s", err, data)
	}
	for _, m := range index.Manifests {
		if m.Annotations[specs.AnnotationRefName] == tag {
			named = append(named, m.Digest)
		}
	}
	return named, len(index.Manifests), data
}

// checkMediaTypes checks that the raw manifest uses OCI media types only.
func checkMediaTypes(t *testing.T, raw string) {
	t.Helper()
	type desc struct{ MediaType string }
	var m struct {
		MediaType string
		Config    desc
		Layers    []desc
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("decoding the manifest: %v\n%s", err, raw)
	}
	want := struct {
		MediaType string
		Config    desc
		Layers    []desc
	}{ociManifest, desc{ociConfig}, []desc{{ociLayerGzip}, {ociLayerGzip}}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("manifest media types mismatch (-want +got):\n%s", diff)
	}
}
