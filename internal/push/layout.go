package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/registry"
)

// containerdNameAnnotation carries the full reference, for `ctr import`.
const containerdNameAnnotation = "io.containerd.image.name"

// Layout writes an image or index into the OCI image layout at dir, creating it if needed,
// under tag.TagStr(). An entry already under that tag is replaced, never
// duplicated. Blobs land before index.json, and index.json is replaced
// atomically, so a failure leaves the layout as it was.
//
// Writers to one layout, in this process or others, take turns: each holds
// an exclusive lock on the layout's oci-layout file while it writes, and
// merges its entry into the index.json it reads under that lock, so that no
// entry is lost. Every file is written 0644 and every directory made 0755,
// whatever the umask; a blob already in the layout is kept only if its
// content hashes to its name.
func Layout(a registry.Artifact, tag name.Tag, dir string) (err error) {
	unlock, created, err := lockLayout(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if created {
		defer func() {
			if err != nil {
				_ = os.RemoveAll(dir)
			}
		}()
	}
	if err := writeArtifact(dir, a); err != nil {
		return fmt.Errorf("writing blobs to %s: %w", dir, err)
	}
	desc, err := partial.Descriptor(a)
	if err != nil {
		return fmt.Errorf("describing the image: %w", err)
	}
	d := *desc
	d.Annotations = map[string]string{specs.AnnotationRefName: tag.TagStr(), containerdNameAnnotation: tag.Name()}
	im, err := readIndex(dir)
	if err != nil {
		return err
	}
	kept := im.Manifests[:0]
	for _, m := range im.Manifests {
		if m.Annotations[specs.AnnotationRefName] != tag.TagStr() {
			kept = append(kept, m)
		}
	}
	im.Manifests = append(kept, d)
	data, err := json.MarshalIndent(im, "", "   ")
	if err != nil {
		return fmt.Errorf("encoding the index of %s: %w", dir, err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, "index.json"), data)
}

// readIndex reads the index.json of the layout at dir; an absent one is an
// empty index.
func readIndex(dir string) (*v1.IndexManifest, error) {
	p := filepath.Join(dir, "index.json")
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		im, err := empty.Index.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("making an empty index: %w", err)
		}
		return im.DeepCopy(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	im, err := v1.ParseIndexManifest(bytesReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return im, nil
}

// CheckLayoutParent checks dir, which is to hold a layout a service,
// DIR/NAME, before anything is built: absent, or a directory that is not a
// layout itself.
func CheckLayoutParent(dir string) error {
	if there, err := isDir(dir, "layouts"); err != nil || !there {
		return err
	}
	if _, err := os.Lstat(filepath.Join(dir, layoutFile)); err == nil {
		return fmt.Errorf("%s is an OCI image layout, and several services write a layout each inside it (DIR/NAME): give another directory", dir)
	}
	return nil
}

// CheckLayout returns nil when dir may be written by Layout: nothing is
// there, or a directory that is empty or holds an OCI image layout whose
// index.json, if any, is a regular file. It never follows a symbolic link.
func CheckLayout(dir string) error {
	if there, err := isDir(dir, "an OCI layout"); err != nil || !there {
		return err
	}
	markerPath := filepath.Join(dir, layoutFile)
	marker, err := os.Lstat(markerPath)
	if err != nil {
		markerMissed(dir)
		entries, rerr := os.ReadDir(dir)
		if rerr != nil {
			return fmt.Errorf("opening %s: %w", dir, rerr)
		}
		if len(entries) == 0 {
			return nil
		}
		// A writer makes a new layout's oci-layout first, right after its
		// directory: one may have appeared since.
		if marker, err = os.Lstat(markerPath); err != nil {
			return fmt.Errorf("%s: not an OCI image layout (it has files but no oci-layout); pick a new or empty directory", dir)
		}
	}
	if !marker.Mode().IsRegular() {
		return fmt.Errorf("refusing to write an OCI layout at %s: its %s is %s, not a regular file", dir, layoutFile, atomicfile.Kind(marker.Mode()))
	}
	return atomicfile.Check(filepath.Join(dir, "index.json"))
}

// markerMissed is called when CheckLayout finds no oci-layout in dir, for
// a test to make a layout there as another writer would, then.
var markerMissed = func(dir string) {}

// isDir reports whether dir is there, and fails unless it is a directory,
// where builder is to write what ("refusing to write WHAT at DIR").
func isDir(dir, what string) (bool, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("refusing to write %s at %s: %s is there, not a directory", what, dir, atomicfile.Kind(fi.Mode()))
	}
	return true, nil
}
