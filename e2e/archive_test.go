package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path"
	"testing"
)

// archive is a docker-archive (the format of `docker save`), read whole with
// the standard library rather than with the code that wrote it.
type archive struct {
	repoTags   []string
	configName string // as manifest.json names it: "blobs/sha256/<hex>"
	config     []byte
	layers     []blob // in manifest order, the base first
}

// blob is one file of the archive.
type blob struct {
	name string
	data []byte
}

// readArchive reads the docker-archive at file, which must hold one image.
func readArchive(t *testing.T, file string) archive {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("opening the archive: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("closing %s: %v", file, err)
		}
	})
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", file, err)
		}
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatalf("reading %s from %s: %v", h.Name, file, err)
		}
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("decoding manifest.json of %s: %v", file, err)
	}
	if len(manifest) != 1 {
		t.Fatalf("manifest.json of %s lists %d images, want 1", file, len(manifest))
	}
	m := manifest[0]
	a := archive{repoTags: m.RepoTags, configName: m.Config, config: files[m.Config]}
	if a.config == nil {
		t.Fatalf("%s has no config file %q", file, m.Config)
	}
	for _, l := range m.Layers {
		data, ok := files[l]
		if !ok {
			t.Fatalf("%s has no layer file %q", file, l)
		}
		a.layers = append(a.layers, blob{name: l, data: data})
	}
	return a
}

// layer is a gunzipped, untarred layer.
type layer struct {
	size  int64            // bytes of the uncompressed tar stream
	files map[string]entry // by path, without a leading "/" or "./"
}

// entry is one file of a layer.
type entry struct {
	hdr  *tar.Header
	data []byte
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readLayer gunzips and untars b.
func readLayer(t *testing.T, b blob) layer {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b.data))
	if err != nil {
		t.Fatalf("layer %s is not gzip: %v", b.name, err)
	}
	cr := &countingReader{r: zr}
	l := layer{files: map[string]entry{}}
	tr := tar.NewReader(cr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading layer %s: %v", b.name, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s from layer %s: %v", h.Name, b.name, err)
		}
		name := path.Clean("/" + h.Name)[1:]
		l.files[name] = entry{hdr: h, data: data}
	}
	// The tar end marker and any padding count too, as they do for diff_ids.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		t.Fatalf("reading the end of layer %s: %v", b.name, err)
	}
	if err := zr.Close(); err != nil {
		t.Fatalf("closing layer %s: %v", b.name, err)
	}
	l.size = cr.n
	return l
}
