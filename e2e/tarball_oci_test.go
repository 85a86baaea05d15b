package e2e

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// skopeoDigest returns the digest skopeo gives the image at ref.
func skopeoDigest(t *testing.T, ref string) string {
	t.Helper()
	var out struct{ Digest string }
	raw := mustRun(t, "skopeo", "inspect", ref)
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("decoding skopeo inspect %s: %v\n%s", ref, err, raw)
	}
	return out.Digest
}

// indexEntries returns the digest and ref.name annotation of each entry of
// the index.json in the tarball at file, read with the standard library.
func indexEntries(t *testing.T, file string) [][2]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("opening %s: %v", file, err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s has no index.json", file)
		}
		if err != nil {
			t.Fatalf("reading %s: %v", file, err)
		}
		if h.Name != "index.json" {
			continue
		}
		var index struct {
			Manifests []struct {
				Digest      string
				Annotations map[string]string
			}
		}
		if err := json.NewDecoder(tr).Decode(&index); err != nil {
			t.Fatalf("decoding index.json of %s: %v", file, err)
		}
		var out [][2]string
		for _, m := range index.Manifests {
			out = append(out, [2]string{m.Digest, m.Annotations["org.opencontainers.image.ref.name"]})
		}
		return out
	}
}

// The tarball builder writes is also an OCI image layout archive whose
// index names the digest builder printed; it still reads as a
// docker-archive.
func TestTarballKeepsDigest(t *testing.T) {
	b := built(t)
	t.Parallel()
	if got := skopeoDigest(t, "oci-archive:"+b.tarball); got != b.digest {
		t.Errorf("skopeo inspect oci-archive: digest %s, want builder's %s", got, b.digest)
	}
	if diff := cmp.Diff([][2]string{{b.digest, tag}}, indexEntries(t, b.tarball)); diff != "" {
		t.Errorf("index.json entries [digest, ref.name] (-want +got):\n%s", diff)
	}

	dir := t.TempDir()
	// Copied from the OCI side, the manifest is kept byte for byte.
	mustRun(t, "skopeo", "copy", "oci-archive:"+b.tarball, "oci:"+filepath.Join(dir, "from-oci")+":img")
	if got := skopeoDigest(t, "oci:"+filepath.Join(dir, "from-oci")+":img"); got != b.digest {
		t.Errorf("after skopeo copy oci-archive: → oci:, digest %s, want %s", got, b.digest)
	}
	// The docker-archive side: skopeo writes a manifest of its own, of the
	// same config and layers.
	mustRun(t, "skopeo", "copy", "docker-archive:"+b.tarball, "oci:"+filepath.Join(dir, "from-docker")+":img")
	var cfg struct{ Config struct{ Entrypoint []string } }
	raw := mustRun(t, "skopeo", "inspect", "--config", "oci:"+filepath.Join(dir, "from-docker")+":img")
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("decoding skopeo inspect --config: %v\n%s", err, raw)
	}
	if diff := cmp.Diff([]string{entrypoint}, cfg.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint after skopeo copy docker-archive: → oci: (-want +got):\n%s", diff)
	}
}

// podman load takes the tarball as the OCI archive it also is: the image
// keeps builder's digest, under its reference.
func TestOCIPodmanLoad(t *testing.T) {
	b := built(t)
	t.Parallel()
	p := newPodman(t)
	out := p.must(t, "load", "--input", b.tarball)
	t.Logf("podman load: %s", strings.TrimSpace(out))
	img := podmanImage(t, p, "app:"+tag)
	if img.Digest != b.digest {
		t.Errorf("podman lists %v with digest %s, want builder's %s", img.Names, img.Digest, b.digest)
	}
}

// podmanImageEntry is one image as `podman images --format json` lists it.
type podmanImageEntry struct {
	ID     string `json:"Id"`
	Names  []string
	Digest string
}

// podmanImage returns the image p lists under ref, which podman may
// qualify (localhost/app:tag, docker.io/library/app:tag).
func podmanImage(t *testing.T, p podman, ref string) podmanImageEntry {
	t.Helper()
	var images []podmanImageEntry
	out := p.must(t, "images", "--format", "json")
	if err := json.Unmarshal([]byte(out), &images); err != nil {
		t.Fatalf("decoding podman images: %v\n%s", err, out)
	}
	for _, img := range images {
		for _, n := range img.Names {
			if n == ref || strings.HasSuffix(n, "/"+ref) {
				return img
			}
		}
	}
	t.Fatalf("podman images lists no %s:\n%s", ref, out)
	return podmanImageEntry{}
}
