// Package push delivers images: to a registry, to a docker-archive tarball,
// or into an OCI image layout.
package push

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Tarball writes img as a docker-archive at path, named by tags, so that
// `docker load` and `podman load` give it those names. The file appears
// whole or not at all.
func Tarball(img v1.Image, tags []name.Tag, path string) error {
	refs := make(map[name.Reference]v1.Image, len(tags))
	for _, t := range tags {
		refs[t] = img
	}
	return writeAtomically(path, func(f *os.File) error {
		return tarball.MultiRefWrite(refs, f)
	})
}

// File writes data to path as a whole or not at all.
func File(path string, data []byte) error {
	return writeAtomically(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// writeAtomically writes to a temporary file beside path and renames it over
// path once write and Close have succeeded; on failure it removes the
// temporary file and leaves path as it was.
func writeAtomically(path string, write func(*os.File) error) (err error) {
	dir := filepath.Dir(path)
	if fi, statErr := os.Stat(path); statErr == nil && fi.IsDir() {
		return fmt.Errorf("writing %s: it is a directory", path)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

var errNotLayout = errors.New("not an OCI image layout")
