package gocache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/buildercli/builder/internal/atomicfile"
)

// Where entries live under Dir.
const (
	outputsDir = "o"       // o/XX/OUTPUTHEX: outputs, by content
	actionsDir = "a"       // a/XX/ACTIONHEX: an action's index line
	pendingDir = "pending" // pending/ACTIONHEX: the index line, until uploaded
	notesDir   = "notes"   // notes/*: one line each, for TakeNotes
	trimFile   = "trimmed" // its time is the last trim's
	tmpPrefix  = ".tmp-"
)

// entry is what an action's index says: its output, size and time.
type entry struct {
	action, output string // hex
	size           int64
	time           time.Time
}

// line is e as its index file holds it.
func (e entry) line() string {
	return fmt.Sprintf("gocache1 %s %s %d %d\n", e.action, e.output, e.size, e.time.UnixNano())
}

// parseEntry reads an index line.
func parseEntry(b []byte) (entry, error) {
	f := strings.Fields(string(b))
	if len(f) != 5 || f[0] != "gocache1" || !isHexID(f[1]) || !isHexID(f[2]) {
		return entry{}, fmt.Errorf("malformed index entry %q", b)
	}
	size, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || size < 0 {
		return entry{}, fmt.Errorf("malformed index entry %q", b)
	}
	ns, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil {
		return entry{}, fmt.Errorf("malformed index entry %q", b)
	}
	return entry{action: f[1], output: f[2], size: size, time: time.Unix(0, ns)}, nil
}

// isHexID reports whether s is a SHA-256 in lowercase hex.
func isHexID(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// disk is Dir, made absolute: the go command wants absolute DiskPaths.
type disk struct{ dir string }

// open is s's disk, once s is checked.
func (s Store) open() (disk, error) {
	if _, err := hex.DecodeString(s.Run); err != nil {
		return disk{}, fmt.Errorf("run %q: want a name in hex", s.Run)
	}
	return openDisk(s.Dir)
}

func openDisk(dir string) (disk, error) {
	if dir == "" {
		return disk{}, errors.New("no cache directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return disk{}, fmt.Errorf("locating %s: %w", dir, err)
	}
	for _, sub := range []string{outputsDir, actionsDir, pendingDir, notesDir} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return disk{}, fmt.Errorf("creating the cache directory: %w", err)
		}
	}
	return disk{dir: abs}, nil
}

func (d disk) outputPath(out string) string { return filepath.Join(d.dir, outputsDir, out[:2], out) }
func (d disk) actionPath(a string) string   { return filepath.Join(d.dir, actionsDir, a[:2], a) }
func (d disk) pendingPath(a string) string  { return filepath.Join(d.dir, pendingDir, a) }

// lookup returns an action's entry when its output is there, of the right
// size, and false otherwise.
func (d disk) lookup(action string) (entry, bool) {
	b, err := atomicfile.ReadRegular(d.actionPath(action), maxEntry)
	if err != nil {
		return entry{}, false
	}
	e, err := parseEntry(b)
	if err != nil || e.action != action {
		return entry{}, false
	}
	fi, err := os.Stat(d.outputPath(e.output))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != e.size {
		return entry{}, false
	}
	return e, true
}

// touchEvery is how stale a used entry's time may get before a use renews
// it, as in Go's own cache: an entry's mtime says when it was last used.
const touchEvery = time.Hour

// touch marks e used now, unless it was within touchEvery.
func (d disk) touch(e entry) {
	d.touchFiles(d.actionPath(e.action), d.outputPath(e.output))
}

func (d disk) touchFiles(paths ...string) {
	now := time.Now()
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && now.Sub(fi.ModTime()) > touchEvery {
			_ = os.Chtimes(p, now, now) // an entry untouched is trimmed sooner, no worse
		}
	}
}

// storeOutputWith writes the output out of size bytes, as fill gives it,
// verifying both, to a temporary file renamed into place; nothing is kept
// when they differ. It returns the output's path.
func (d disk) storeOutputWith(out string, size int64, fill func(io.Writer) (int64, error)) (string, error) {
	path := d.outputPath(out)
	f, err := createTemp(filepath.Dir(path))
	if err != nil {
		return "", fmt.Errorf("storing output %s: %w", out, err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := fill(io.MultiWriter(f, h))
	if err != nil {
		return "", fmt.Errorf("storing output %s: %w", out, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != out {
		return "", fmt.Errorf("storing output %s: %w: got %d bytes of SHA-256 %s, want %d", out, ErrMismatch, n, got, size)
	}
	if err := f.Chmod(0o644); err != nil {
		return "", fmt.Errorf("storing output %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("storing output %s: %w", out, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return "", fmt.Errorf("storing output %s: %w", out, err)
	}
	keep = true
	return path, nil
}

// ErrMismatch is wrapped by the error for content whose SHA-256 or size is
// not what its OutputID and size say.
var ErrMismatch = errors.New("content does not match its OutputID")

// record writes e's index file and, when pending, its upload marker.
func (d disk) record(e entry, pending bool) error {
	if err := writeAtomic(d.actionPath(e.action), []byte(e.line())); err != nil {
		return err
	}
	if pending {
		return writeAtomic(d.pendingPath(e.action), []byte(e.line()))
	}
	return nil
}

// writeAtomic writes data to a temporary file beside path, renamed over it.
func writeAtomic(path string, data []byte) error {
	f, err := createTemp(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// createTemp creates a temporary file in dir, creating dir when it is
// missing: most often it is there, and a Mkdir costs as much as a create.
func createTemp(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if isNotExist(err) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		f, err = os.CreateTemp(dir, tmpPrefix+"*")
	}
	return f, err
}

// isNotExist reports whether err says a file is not there.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// maxEntry bounds an action's entry, one line of about 170 bytes, and a
// pending marker, which holds one.
const maxEntry = 1 << 10
