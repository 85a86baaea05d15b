package push

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/registry"
)

// writeArtifact writes every blob of an image, or of an index and its
// images, into the layout at dir: layers, configs, then manifests, so that
// a manifest is never there without what it names.
func writeArtifact(dir string, a registry.Artifact) error {
	switch t := a.(type) {
	case v1.Image:
		return writeImage(dir, t)
	case v1.ImageIndex:
		im, err := t.IndexManifest()
		if err != nil {
			return fmt.Errorf("reading the index: %w", err)
		}
		for _, m := range im.Manifests {
			img, err := t.Image(m.Digest)
			if err != nil {
				return fmt.Errorf("reading image %s: %w", m.Digest, err)
			}
			if err := writeImage(dir, img); err != nil {
				return err
			}
		}
		return writeRaw(dir, t)
	default:
		return fmt.Errorf("cannot write a %T", a)
	}
}

func writeImage(dir string, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("reading layers: %w", err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("computing a layer digest: %w", err)
		}
		size, err := l.Size()
		if err != nil {
			return fmt.Errorf("sizing layer %s: %w", d, err)
		}
		if err := writeBlob(dir, d, size, l.Compressed); err != nil {
			return err
		}
	}
	name, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("reading the config digest: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("reading the config: %w", err)
	}
	if err := writeBlob(dir, name, int64(len(config)), bytesOpener(config)); err != nil {
		return err
	}
	return writeRaw(dir, img)
}

// writeRaw writes the manifest of an image or index.
func writeRaw(dir string, a interface {
	Digest() (v1.Hash, error)
	RawManifest() ([]byte, error)
}) error {
	d, err := a.Digest()
	if err != nil {
		return fmt.Errorf("computing a manifest digest: %w", err)
	}
	raw, err := a.RawManifest()
	if err != nil {
		return fmt.Errorf("reading manifest %s: %w", d, err)
	}
	return writeBlob(dir, d, int64(len(raw)), bytesOpener(raw))
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// writeBlob writes the blob d of size bytes, read from open, at
// blobs/ALG/HEX, unless a good copy is already there: a regular file, mode
// 0644, of that size, whose content hashes to d. Anything else there is
// replaced. What is written is checked against d and size before it is
// renamed into place.
func writeBlob(dir string, d v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
	blobs := filepath.Join(dir, "blobs")
	algDir := filepath.Join(blobs, d.Algorithm)
	p := filepath.Join(algDir, d.Hex)
	if goodBlob(p, d, size) {
		return nil
	}
	for _, sub := range []string{blobs, algDir} {
		if _, err := makeDir(sub); err != nil {
			return fmt.Errorf("writing blob %s: %w", d, err)
		}
	}
	if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
		// Not a file builder wrote: a blob's name is builder's to use.
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("replacing blob %s: %w", d, err)
		}
	}
	err := atomicfile.Write(p, func(f *os.File) error {
		rc, err := open()
		if err != nil {
			return err
		}
		got, n, err := hashOf(d.Algorithm, io.TeeReader(rc, f))
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if got != d || n != size {
			return fmt.Errorf("content is %s, %d bytes; want %s, %d bytes", got, n, d, size)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing blob %s: %w", d, err)
	}
	return nil
}

// goodBlob reports whether p is a regular file, mode 0644, of size bytes,
// whose content hashes to d.
func goodBlob(p string, d v1.Hash, size int64) bool {
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 || fi.Size() != size {
		return false
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	got, _, err := hashOf(d.Algorithm, f)
	return err == nil && got == d
}

// hashOf reads r to its end and returns its digest with algorithm alg, and
// its size.
func hashOf(alg string, r io.Reader) (v1.Hash, int64, error) {
	h, err := v1.Hasher(alg)
	if err != nil {
		return v1.Hash{}, 0, err
	}
	n, err := io.Copy(h, r)
	if err != nil {
		return v1.Hash{}, n, err
	}
	return v1.Hash{Algorithm: alg, Hex: fmt.Sprintf("%x", h.Sum(nil))}, n, nil
}
