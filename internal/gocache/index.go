package gocache

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/buildercli/builder/internal/atomicfile"
)

// The remote format of an index: the actions a kind of build used, in the
// order the go command first asked for them, for Prefetch.
const (
	// IndexArtifactType is the artifactType of an index's manifest.
	IndexArtifactType = "application/vnd.buildercli.gocache.index.v1"
	// IndexMediaType is the media type of an index's one layer: action
	// IDs in hex, one a line, gzipped.
	IndexMediaType types.MediaType = "application/vnd.buildercli.gocache.index.actions.v1+gzip"
	// IndexAnnotation holds the SHA-256 of Store.Index in hex, checked on
	// read against the index asked for.
	IndexAnnotation = "dev.buildercli.gocache.index"
	// IndexTagPrefix starts an index's tag, which goes on with the first
	// 32 hex digits of the SHA-256 of Store.Index.
	IndexTagPrefix = "index-"
)

// Bounds on an index.
var (
	// MaxIndexActions bounds the actions an index lists, when written
	// and when read.
	MaxIndexActions = 1 << 18
	// maxIndexBlob bounds an index's layer as fetched.
	maxIndexBlob int64 = 32 << 20
)

const usedDir = "used" // used/RUN.TIME-RANDOM: the actions a Serve of RUN used, for Upload

// maxUsed bounds the size of a used list read back: a line of 65 bytes
// per action, a million actions.
const maxUsed = 65 << 20

// prefetchJobs is how many entries a Prefetch fetches at once.
var prefetchJobs = 16

// indexKey is the SHA-256 of key in hex.
func indexKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// IndexTag is the tag in Repo of the index named key (Store.Index).
func IndexTag(key string) string { return IndexTagPrefix + indexKey(key)[:32] }

// usedLog is the actions one Serve was asked for, in order of first
// request; a nil usedLog records nothing.
type usedLog struct {
	mu    sync.Mutex
	seen  map[string]bool
	order []string
	saved bool
}

func (u *usedLog) add(action string) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.seen[action] {
		u.seen[action] = true
		u.order = append(u.order, action)
	}
}

// save writes the actions to a new file of run's under used/, once. A
// failure costs the next Prefetch its order, no more: it is not reported.
func (u *usedLog) save(d disk, run string) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.saved || len(u.order) == 0 {
		return
	}
	u.saved = true
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	// A run's names sort as its Serves closed.
	name := fmt.Sprintf("%s.%020d-%s", run, time.Now().UnixNano(), hex.EncodeToString(rnd[:]))
	_ = writeAtomic(filepath.Join(d.dir, usedDir, name), []byte(strings.Join(u.order, "\n")+"\n"))
}

// readUsed merges run's used/ files there now, oldest first, each action
// once where it first appears, and returns them and the files' paths.
func (d disk) readUsed(run string) ([]string, []string) {
	ents, err := os.ReadDir(filepath.Join(d.dir, usedDir))
	if err != nil {
		return nil, nil
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), tmpPrefix) && strings.HasPrefix(e.Name(), run+".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	seen := map[string]bool{}
	var actions, files []string
	for _, n := range names {
		p := filepath.Join(d.dir, usedDir, n)
		b, err := atomicfile.ReadRegular(p, maxUsed)
		if err != nil {
			continue
		}
		files = append(files, p)
		for _, a := range strings.Fields(string(b)) {
			if isHexID(a) && !seen[a] {
				seen[a] = true
				actions = append(actions, a)
			}
		}
	}
	return actions, files
}

func removeAll(paths []string) {
	for _, p := range paths {
		_ = os.Remove(p)
	}
}

// inRepo keeps the actions whose entries are local and not pending: put
// and uploaded, or fetched from Repo. (An entry put while Repo was unset
// passes too; a Prefetch finds it missing and goes on.)
func (d disk) inRepo(actions []string) []string {
	var kept []string
	for _, a := range actions {
		if len(kept) == MaxIndexActions {
			break
		}
		if _, ok := d.lookup(a); !ok {
			continue
		}
		if _, err := os.Lstat(d.pendingPath(a)); !isNotExist(err) {
			continue
		}
		kept = append(kept, a)
	}
	return kept
}

// pushIndex puts actions in repo as the index named key.
func pushIndex(ctx context.Context, pusher *remote.Pusher, repo name.Repository, key string, actions []string) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, a := range actions {
		_, _ = zw.Write([]byte(a + "\n"))
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("writing the index: %w", err)
	}
	l := static.NewLayer(buf.Bytes(), IndexMediaType)
	dg, err := l.Digest()
	if err != nil {
		return fmt.Errorf("writing the index: %w", err)
	}
	if err := pusher.Upload(ctx, repo, l); err != nil {
		return fmt.Errorf("pushing the index to %s: %w", repo, explain(repo, err))
	}
	empty, _, err := v1.SHA256(strings.NewReader(emptyJSON))
	if err != nil {
		return fmt.Errorf("hashing the empty config: %w", err)
	}
	m, err := json.Marshal(v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  IndexArtifactType,
		Config:        v1.Descriptor{MediaType: emptyMediaType, Size: int64(len(emptyJSON)), Digest: empty},
		Layers:        []v1.Descriptor{{MediaType: IndexMediaType, Size: int64(buf.Len()), Digest: dg}},
		Annotations:   map[string]string{IndexAnnotation: indexKey(key)},
	})
	if err != nil {
		return fmt.Errorf("writing the index manifest: %w", err)
	}
	tag := IndexTag(key)
	if err := pusher.Put(ctx, repo.Tag(tag), rawManifest(m)); err != nil {
		return fmt.Errorf("tagging %s:%s: %w", repo, tag, explain(repo, err))
	}
	return nil
}

// errNoIndex says Repo has no usable index: none, or a corrupt one.
var errNoIndex = errors.New("no usable index")

// readIndex fetches the index named key: errNoIndex when there is none
// that is whole, another error when Repo failed.
func (rc *remoteCache) readIndex(ctx context.Context, key string) ([]string, error) {
	mctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	tag := IndexTag(key)
	desc, err := rc.puller.Get(mctx, rc.repo.Tag(tag))
	if isNotFound(err) {
		return nil, errNoIndex
	}
	if err != nil {
		return nil, fmt.Errorf("looking up %s:%s: %w", rc.repo, tag, err)
	}
	var mf v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &mf); err != nil {
		return nil, errNoIndex
	}
	if mf.ArtifactType != IndexArtifactType || mf.Annotations[IndexAnnotation] != indexKey(key) || len(mf.Layers) != 1 {
		return nil, errNoIndex
	}
	ld := mf.Layers[0]
	if ld.MediaType != IndexMediaType || ld.Digest.Algorithm != "sha256" || !isHexID(ld.Digest.Hex) ||
		ld.Size < 0 || ld.Size > maxIndexBlob {
		return nil, errNoIndex
	}
	bctx, cancel := context.WithTimeout(ctx, RequestTimeout+time.Duration(ld.Size/MinBlobRate)*time.Second)
	defer cancel()
	l, err := rc.puller.Layer(bctx, rc.repo.Digest(ld.Digest.String()))
	if err != nil {
		return nil, fmt.Errorf("fetching the index %s: %w", ld.Digest, err)
	}
	r, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("fetching the index %s: %w", ld.Digest, err)
	}
	defer r.Close()
	// ggcr checks the digest at the end of the blob.
	blob, err := io.ReadAll(io.LimitReader(r, ld.Size+1))
	switch {
	case isNotFound(err), isDigestMismatch(err):
		return nil, errNoIndex
	case err != nil:
		return nil, fmt.Errorf("fetching the index %s: %w", ld.Digest, err)
	case int64(len(blob)) != ld.Size:
		return nil, errNoIndex
	}
	if h := sha256.Sum256(blob); hex.EncodeToString(h[:]) != ld.Digest.Hex {
		return nil, errNoIndex
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, errNoIndex
	}
	var actions []string
	sc := bufio.NewScanner(io.LimitReader(zr, int64(MaxIndexActions)*(2*sha256.Size+1)))
	for sc.Scan() && len(actions) < MaxIndexActions {
		if a := strings.TrimSpace(sc.Text()); isHexID(a) {
			actions = append(actions, a)
		}
	}
	// A truncated or corrupt stream keeps the actions read before it.
	return actions, nil
}

// PrefetchStats says what a Prefetch fetched.
type PrefetchStats struct {
	// Entries counts the entries made local, Bytes the outputs downloaded
	// for them (an output already local costs none).
	Entries int
	Bytes   int64
	Took    time.Duration
}

// Prefetch fetches into Dir, prefetchJobs at a time, the entries of the
// index Index in Repo that are not local, in the index's order (roughly
// the order in which the go command asked for them when the index was
// written), each verified as a Serve's get does. It may run while Serves
// use Dir: an entry both fetch is written twice, atomically. No Repo, no
// Index, no index in Repo, or a corrupt one, fetch nothing; a corrupt
// entry is skipped. The first failure of Repo stops it and leaves a note,
// as a Serve does (and the Serves that start while the note waits do not
// ask Repo); so does a Serve's recent note, before it starts. It returns
// an error only when Dir or Repo are unusable, as Serve would.
func (s Store) Prefetch(ctx context.Context) (PrefetchStats, error) {
	start := time.Now()
	var st PrefetchStats
	if s.Repo == "" || s.Index == "" {
		return st, nil
	}
	d, err := s.open()
	if err != nil {
		return st, err
	}
	if d.freshNote(s.Run, time.Now()) {
		return st, nil
	}
	rc, err := newRemoteCache(s, s.noteOff(d))
	if err != nil {
		return st, err
	}
	rc.sem = make(chan struct{}, prefetchJobs)
	actions, err := rc.readIndex(ctx, s.Index)
	switch {
	case errors.Is(err, errNoIndex), err != nil && ctx.Err() != nil:
		st.Took = time.Since(start)
		return st, nil
	case err != nil:
		rc.fail(err)
		st.Took = time.Since(start)
		return st, nil
	}
	var entries, size atomic.Int64
	todo := make(chan string)
	var wg sync.WaitGroup
	for range prefetchJobs {
		wg.Go(func() {
			for a := range todo {
				if _, ok := d.lookup(a); ok {
					continue // a Serve got there first
				}
				if _, n, err := rc.get(ctx, d, a); err == nil {
					entries.Add(1)
					size.Add(n)
				}
			}
		})
	}
feed:
	for _, a := range actions {
		if rc.off.Load() {
			break
		}
		if _, ok := d.lookup(a); ok {
			continue
		}
		select {
		case todo <- a:
		case <-ctx.Done():
			break feed
		}
	}
	close(todo)
	wg.Wait()
	st.Entries, st.Bytes, st.Took = int(entries.Load()), size.Load(), time.Since(start)
	return st, nil
}
