package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/atomicfile"
)

// A lineage record names the last layer stored for a lineage (see Key), so
// that the next layer of the lineage can copy its unchanged blocks. Each
// entry keeps the list of its blocks in blocksFile. A block's record is
// found by the SHA-256 of its input and dictionary, and its bytes are copied
// only when they and the key match the record's CRC-32C, so a lost, stale,
// corrupted or misfiled record only costs compressing the block again.
// (Like every cache entry, they do not stand against someone who can write
// the cache directory.)

// blocksFile lists an entry's compressed blocks; r2: the CRC-32C covers
// the key too.
const blocksFile = "blocks-r2.json"

// Bounds on what a record may hold: more is not builder's.
const (
	maxPointer = 256
	maxBlocks  = 64 << 20
)

func (c Cache) lineagePath(lineage string) string {
	h := sha256.Sum256([]byte(settings + "\x00" + lineage))
	return filepath.Join(c.sub("lineage"), hex.EncodeToString(h[:]))
}

// follow records diffID as the lineage's last layer; a failure only costs
// compressing the next one in full.
func (c Cache) follow(lineage string, diffID v1.Hash) {
	if lineage == "" || c.Dir == "" {
		return
	}
	p := c.lineagePath(lineage)
	if data, err := atomicfile.ReadRegular(p, maxPointer); err == nil && string(data) == diffID.String() {
		mark(p, time.Now()) // an unchanged layer writes nothing else
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return
	}
	_ = atomicfile.WriteFile(p, []byte(diffID.String()))
}

// earlier opens the lineage's last layer, to copy blocks from; nil when
// there is none to be read. The returned function closes it.
func (c Cache) earlier(lineage string) (*earlier, func()) {
	none := func() {}
	if lineage == "" || c.Dir == "" {
		return nil, none
	}
	data, err := atomicfile.ReadRegular(c.lineagePath(lineage), maxPointer)
	if err != nil {
		return nil, none
	}
	diffID, err := v1.NewHash(string(data))
	if err != nil {
		return nil, none
	}
	dir := c.entryDir(diffID)
	data, err = atomicfile.ReadRegular(filepath.Join(dir, blocksFile), maxBlocks)
	if err != nil {
		return nil, none
	}
	var blocks []block
	if err := json.Unmarshal(data, &blocks); err != nil {
		return nil, none
	}
	f, err := atomicfile.OpenRegular(filepath.Join(dir, "blob"))
	if err != nil {
		return nil, none
	}
	e := &earlier{blob: f, blocks: make(map[string]block, len(blocks))}
	for _, b := range blocks {
		e.blocks[b.Key] = b
	}
	return e, func() { _ = f.Close() }
}
