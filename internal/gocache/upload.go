package gocache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/registry"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// UploadStats says what an Upload sent.
type UploadStats struct {
	// Entries counts the entries put in Repo, Bytes their outputs' sizes.
	Entries int
	Bytes   int64
	// Indexed counts the actions of the index put in Repo (see
	// Store.Index); 0 when none was.
	Indexed int
}

// uploadJobs is how many entries an Upload sends at once.
const uploadJobs = 4

// Upload pushes the entries put locally since the last Upload (the
// pending markers under Dir) to Repo, a few at a time, and removes each
// marker once its entry is in Repo. Two processes may upload from one Dir
// at once: both may push an entry, which is harmless, and a marker is
// removed only while it still names what was pushed.
//
// Then, when Index is set, it puts in Repo the index that Prefetch reads:
// the actions the Serves of s.Run since the last Upload were asked for, in the
// order they first were, that have an entry in Repo (those still pending
// are left out). The Serves' lists are removed once it is put, or at
// once without Index; when pushing an entry fails no index is put, and
// the lists are left for the trim, as those of a run that never uploads.
func (s Store) Upload(ctx context.Context) (UploadStats, error) {
	if s.Repo == "" {
		return UploadStats{}, nil
	}
	d, err := s.open()
	if err != nil {
		return UploadStats{}, err
	}
	repo, err := s.Registry.Repository(s.Repo)
	if err != nil {
		return UploadStats{}, fmt.Errorf("reading the cache repository: %w", err)
	}
	used, usedFiles := d.readUsed(s.Run)
	markers, err := os.ReadDir(filepath.Join(d.dir, pendingDir))
	if err != nil {
		return UploadStats{}, fmt.Errorf("listing pending entries: %w", err)
	}
	var todo []string
	for _, m := range markers {
		if isHexID(m.Name()) {
			todo = append(todo, m.Name())
		}
	}
	var indexed []string
	if s.Index != "" {
		// What the go command asked for; pending entries are told apart
		// once pushed.
		for _, a := range used {
			if _, ok := d.lookup(a); ok {
				indexed = append(indexed, a)
			}
		}
	}
	if len(todo) == 0 && len(indexed) == 0 {
		removeAll(usedFiles)
		return UploadStats{}, nil
	}
	pusher, err := remote.NewPusher(s.Registry.Options()...)
	if err != nil {
		return UploadStats{}, fmt.Errorf("preparing to push to %s: %w", repo, err)
	}
	if err := pusher.Upload(ctx, repo, static.NewLayer([]byte(emptyJSON), emptyMediaType)); err != nil {
		return UploadStats{}, fmt.Errorf("pushing the empty config to %s: %w", repo, explain(repo, err))
	}
	var entries, size atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(uploadJobs)
	for _, action := range todo {
		g.Go(func() error {
			n, err := d.uploadOne(gctx, pusher, repo, action)
			if n >= 0 && err == nil {
				entries.Add(1)
				size.Add(n)
			}
			return err
		})
	}
	err = g.Wait()
	st := UploadStats{Entries: int(entries.Load()), Bytes: size.Load()}
	if err != nil {
		return st, err
	}
	if indexed = d.inRepo(indexed); len(indexed) > 0 {
		if err := pushIndex(ctx, pusher, repo, s.Index, indexed); err != nil {
			return st, err
		}
		st.Indexed = len(indexed)
	}
	removeAll(usedFiles)
	return st, nil
}

// uploadOne pushes the entry that action's marker names, and returns its
// size; -1 when there was nothing to push.
func (d disk) uploadOne(ctx context.Context, pusher *remote.Pusher, repo name.Repository, action string) (int64, error) {
	marker := d.pendingPath(action)
	line, err := atomicfile.ReadRegular(marker, maxEntry)
	if isNotExist(err) {
		return -1, nil // another Upload took it
	}
	if err != nil {
		return -1, fmt.Errorf("reading %s: %w", marker, err)
	}
	e, err := parseEntry(line)
	if err != nil || e.action != action {
		return -1, removeMarker(marker, line)
	}
	path := d.outputPath(e.output)
	if fi, err := os.Stat(path); err != nil || fi.Size() != e.size {
		return -1, removeMarker(marker, line) // trimmed, or replaced: nothing to push
	}
	l, err := partial.CompressedToLayer(fileLayer{path: path, e: e})
	if err != nil {
		return -1, fmt.Errorf("reading output %s: %w", e.output, err)
	}
	if err := pusher.Upload(ctx, repo, l); err != nil {
		return -1, fmt.Errorf("pushing output %s to %s: %w", e.output, repo, explain(repo, err))
	}
	m, err := entryManifest(e)
	if err != nil {
		return -1, err
	}
	if err := pusher.Put(ctx, repo.Tag(action), rawManifest(m)); err != nil {
		return -1, fmt.Errorf("tagging %s:%s: %w", repo, action, explain(repo, err))
	}
	return e.size, removeMarker(marker, line)
}

// removeMarker removes marker while it still holds line: a put of the same
// action since, with another output, stays pending.
func removeMarker(marker string, line []byte) error {
	now, err := atomicfile.ReadRegular(marker, maxEntry)
	if err != nil || !bytes.Equal(now, line) {
		return nil
	}
	if err := os.Remove(marker); err != nil && !isNotExist(err) {
		return fmt.Errorf("removing %s: %w", marker, err)
	}
	return nil
}

// fileLayer is an output on disk as a layer, read when pushed.
type fileLayer struct {
	path string
	e    entry
}

func (l fileLayer) Digest() (v1.Hash, error) {
	return v1.Hash{Algorithm: "sha256", Hex: l.e.output}, nil
}
func (l fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }
func (l fileLayer) Size() (int64, error)                { return l.e.size, nil }
func (l fileLayer) MediaType() (types.MediaType, error) { return OutputMediaType, nil }

// rawManifest is an OCI image manifest to put.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// explain makes a registry error one line that says what went wrong.
func explain(repo name.Repository, err error) error {
	return registry.Explain(repo.Registry, err)
}
