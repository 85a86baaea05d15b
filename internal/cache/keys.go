package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/atomicfile"
)

// A key record maps a key (a Go binary's build ID) to the diffID of the
// content it names, so that unchanged content is not read again. It is
// trusted only when the entry it points at holds a marker for the same key:
// a record that names another entry, by corruption or mistake, is not
// believed, and the content is stored again.

// keyPath is where the diffID of the content a key names is recorded.
func (c Cache) keyPath(key string) string {
	h := sha256.Sum256([]byte(settings + "\x00" + key))
	return filepath.Join(c.keys(), hex.EncodeToString(h[:]))
}

func (c Cache) known(key string) (v1.Hash, bool) {
	data, err := atomicfile.ReadRegular(c.keyPath(key), maxPointer)
	if err != nil {
		return v1.Hash{}, false
	}
	h, err := v1.NewHash(string(data))
	if err != nil {
		return v1.Hash{}, false
	}
	if _, err := os.Stat(c.markerPath(h, key)); err != nil {
		return v1.Hash{}, false
	}
	mark(c.keyPath(key), time.Now())
	return h, true
}

// markerPath is the file in diffID's entry that says key names it.
func (c Cache) markerPath(diffID v1.Hash, key string) string {
	return filepath.Join(c.entryDir(diffID), "key-"+filepath.Base(c.keyPath(key)))
}

// remember records key → diffID; a failure only costs a later hash.
func (c Cache) remember(key string, diffID v1.Hash) {
	p := c.keyPath(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return
	}
	if err := atomicfile.WriteFile(c.markerPath(diffID, key), nil); err != nil {
		return
	}
	_ = atomicfile.WriteFile(p, []byte(diffID.String()))
}
