package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/build"
)

// An Undo puts back what a run's local outputs held before it, when the run
// fails after writing some of them: files, layout entries, and the tags an
// engine was loaded under.
type Undo struct {
	mu    sync.Mutex
	steps []func(context.Context) error
	drops []func()
}

// add records a step that puts an output back and, when not nil, what
// Forget does instead.
func (u *Undo) add(step func(context.Context) error, drop func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.steps = append(u.steps, step)
	if drop != nil {
		u.drops = append(u.drops, drop)
	}
}

// Remember records what the outputs of d (its TarballFile, LayoutDir,
// RecordFiles and Engine, for result b) hold now, before they are written.
// Call it before Deliver. Several may run at once, for outputs of their
// own: what each asks of an engine holds up no other.
func (u *Undo) Remember(ctx context.Context, d Destination, b build.Result) error {
	switch t := d.(type) {
	case Multi:
		for _, one := range t {
			if err := u.Remember(ctx, one, b); err != nil {
				return err
			}
		}
	case Engine:
		// The tag is pointed back at the image it named, or removed.
		id, err := t.current(ctx, b.Ref)
		if err != nil {
			return err
		}
		u.add(func(ctx context.Context) error { return t.putBack(ctx, b, id) }, nil)
	case TarballFile:
		return u.file(string(t))
	case RecordFiles:
		for _, p := range t.paths(b) {
			if err := u.file(p); err != nil {
				return err
			}
		}
	case LayoutDir:
		return u.layout(string(t), b.Ref.TagStr())
	}
	return nil
}

// undoTimeout bounds putting the outputs back, which runs after the run's
// context may have ended: an engine that does not answer is given up.
const undoTimeout = 30 * time.Second

// Restore puts every output back as it was, the last written first, and
// returns the first error.
func (u *Undo) Restore() error {
	u.mu.Lock()
	steps := u.steps
	u.steps, u.drops = nil, nil
	u.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()
	var first error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i](ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Forget drops what Remember kept: the run succeeded.
func (u *Undo) Forget() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, drop := range u.drops {
		drop()
	}
	u.steps, u.drops = nil, nil
}

// file keeps a hard link to the file at p, which a write replaces by
// renaming, so that the old content can be put back; a file that is not
// there is removed again.
func (u *Undo) file(p string) error {
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		u.add(func(context.Context) error {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing %s: %w", p, err)
			}
			return nil
		}, nil)
		return nil
	}
	keep := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".before-builder")
	_ = os.Remove(keep)
	if err := os.Link(p, keep); err != nil {
		return fmt.Errorf("keeping %s in case the run fails: %w", p, err)
	}
	u.add(func(context.Context) error {
		if err := os.Rename(keep, p); err != nil {
			return fmt.Errorf("putting %s back: %w", p, err)
		}
		return nil
	}, func() { _ = os.Remove(keep) })
	return nil
}

// layout remembers the layout's entry under tag (none, or a descriptor);
// a layout that is not there is removed again.
func (u *Undo) layout(dir, tag string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		// The directories the write makes above the layout (out/ of
		// out/NAME) go too, if nothing else was put in them meanwhile.
		var made []string
		for p := filepath.Dir(dir); p != filepath.Dir(p); p = filepath.Dir(p) {
			if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
				break
			}
			made = append(made, p)
		}
		u.add(func(context.Context) error {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			for _, p := range made {
				if err := os.Remove(p); err != nil {
					break // not empty: another writer's, or gone
				}
			}
			return nil
		}, nil)
		return nil
	}
	im, err := readIndex(dir)
	if err != nil {
		return err
	}
	var prev *v1.Descriptor
	for _, m := range im.Manifests {
		if m.Annotations[specs.AnnotationRefName] == tag {
			m := m
			prev = &m
		}
	}
	u.add(func(context.Context) error { return restoreEntry(dir, tag, prev) }, nil)
	return nil
}

// restoreEntry sets the layout's entry under tag back to prev (none when
// nil), under the layout's lock, leaving other writers' entries.
func restoreEntry(dir, tag string, prev *v1.Descriptor) error {
	unlock, _, err := lockLayout(dir)
	if err != nil {
		return err
	}
	defer unlock()
	im, err := readIndex(dir)
	if err != nil {
		return err
	}
	kept := im.Manifests[:0]
	for _, m := range im.Manifests {
		if m.Annotations[specs.AnnotationRefName] != tag {
			kept = append(kept, m)
		}
	}
	if prev != nil {
		kept = append(kept, *prev)
	}
	im.Manifests = kept
	data, err := json.MarshalIndent(im, "", "   ")
	if err != nil {
		return fmt.Errorf("encoding the index of %s: %w", dir, err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, "index.json"), data)
}

// paths are the files r writes for b.
func (r RecordFiles) paths(b build.Result) []string {
	var out []string
	if r.SBOM != "" {
		for i := range b.Records.SBOMs {
			out = append(out, r.sbomPath(b, i))
		}
	}
	if r.Provenance != "" && b.Records.Provenance != nil {
		out = append(out, r.Provenance)
	}
	return out
}

// sbomPath is where the SBOM of b's image i goes: with several platforms,
// each file's name gets the platform before its extension.
func (r RecordFiles) sbomPath(b build.Result, i int) string {
	if len(b.Images) < 2 {
		return r.SBOM
	}
	ext := filepath.Ext(r.SBOM)
	return strings.TrimSuffix(r.SBOM, ext) + "." + strings.ReplaceAll(b.Images[i].Platform.String(), "/", "-") + ext
}
