// Package layers builds deterministic image layers and lays an application
// layer and its configuration onto a base image.
package layers

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Epoch is the modification time of every entry in every layer builder
// writes. A fixed time keeps a layer's digest a function of its content alone;
// the image's creation time lives in its config instead.
var Epoch = time.Unix(0, 0).UTC()

// Entry is one file or directory of a layer.
type Entry struct {
	// Path inside the image, absolute or relative to the root ("etc/passwd").
	Path string
	// Mode holds the permission bits, with sticky, setuid and setgid.
	Mode int64
	// UID and GID own the entry; names are never written.
	UID, GID int
	// Dir marks a directory.
	Dir bool
	// Data is a regular file's content, when Source is empty.
	Data []byte
	// Source names a file on disk whose content is read each time the layer
	// is streamed, so that a large binary is never held in memory. Streaming
	// fails if the file has changed since NewLayer.
	Source string
}

// entry is an Entry with the size and modification time its Source had when
// the layer was made, so that a later change is an error rather than content
// that no longer matches the layer's digest.
type entry struct {
	Entry
	size    int64
	modTime time.Time
}

// Tar returns a function that writes entries as a tar stream, in path order
// with every parent directory present: the same bytes on every call, as
// long as Source files do not change.
func Tar(entries []Entry) (func(io.Writer) error, error) {
	sorted, err := normalize(entries)
	if err != nil {
		return nil, err
	}
	return func(w io.Writer) error { return writeTar(w, sorted) }, nil
}

// NewLayer returns an OCI layer holding entries, in path order, with every
// parent directory present (root-owned, 0755, unless listed).
func NewLayer(entries []Entry) (v1.Layer, error) {
	sorted, err := normalize(entries)
	if err != nil {
		return nil, err
	}
	opener := func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeTar(pw, sorted)) }()
		return pr, nil
	}
	l, err := tarball.LayerFromOpener(opener, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	return layer{l}, nil
}

// layer hides the Descriptor method of tarball's layer, whose empty, non-nil
// annotations map would make an image's Manifest() differ from its
// RawManifest() (validate.Image rejects that); the descriptor is then
// computed from the layer's other methods.
type layer struct{ v1.Layer }

func normalize(entries []Entry) ([]entry, error) {
	byPath := map[string]Entry{}
	for _, e := range entries {
		p := strings.Trim(path.Clean("/"+e.Path), "/")
		if p == "" {
			return nil, fmt.Errorf("layer entry %q: the root cannot be an entry", e.Path)
		}
		if _, dup := byPath[p]; dup {
			return nil, fmt.Errorf("layer entry %q: listed twice", e.Path)
		}
		e.Path = p
		byPath[p] = e
	}
	for p := range byPath {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = Entry{Path: dir, Dir: true, Mode: 0o755}
			}
		}
	}
	sorted := make([]entry, 0, len(byPath))
	for _, e := range byPath {
		se := entry{Entry: e}
		if e.Source != "" && !e.Dir {
			fi, err := os.Stat(e.Source)
			if err != nil {
				return nil, fmt.Errorf("layer entry %q: %w", e.Path, err)
			}
			se.size, se.modTime = fi.Size(), fi.ModTime()
		}
		sorted = append(sorted, se)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	return sorted, nil
}

func writeTar(w io.Writer, entries []entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		if err := writeEntry(tw, e); err != nil {
			return fmt.Errorf("writing %s: %w", e.Path, err)
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, e entry) error {
	hdr := &tar.Header{
		Name:    e.Path,
		Mode:    e.Mode,
		Uid:     e.UID,
		Gid:     e.GID,
		ModTime: Epoch,
	}
	if e.Dir {
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		return tw.WriteHeader(hdr)
	}
	hdr.Typeflag = tar.TypeReg
	if e.Source == "" {
		hdr.Size = int64(len(e.Data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(e.Data)
		return err
	}
	f, err := os.Open(e.Source)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != e.size || !fi.ModTime().Equal(e.modTime) {
		return fmt.Errorf("%s changed since the layer was made", e.Source)
	}
	hdr.Size = e.size
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, f)
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("%s changed size while being read", e.Source)
	}
	return err
}

// BinaryEntry returns the entry for the file at src installed as dest,
// root-owned and mode 0555, so that any user may run it and none may change it.
func BinaryEntry(src, dest string) (Entry, error) {
	if !path.IsAbs(dest) {
		return Entry{}, fmt.Errorf("binary destination %q is not an absolute path", dest)
	}
	return Entry{Path: dest, Mode: 0o555, Source: src}, nil
}
