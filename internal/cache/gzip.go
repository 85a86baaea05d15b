package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/flate"
)

// The gzip stream of a layer is compressed in blocks of blockSize, each with
// the last tailSize bytes of the block before as its dictionary, and ended
// with a sync flush (the last block is then closed too): the stream
// klauspost/pgzip v1.3.0 writes, byte for byte, with these settings. Each
// block's compressed bytes therefore depend only on its input, its
// dictionary and whether it is the last, so a block seen before can be
// copied from an earlier layer instead of being compressed again: after a
// small change to a Go program that moves no code, most of its binary's
// blocks are the same at the same offsets (a one-line change in a library
// of the bench's services changed 121 bytes of an 11 MB binary, in two
// places). Small blocks leave little to compress again; they cost 0.05 % in
// size against blocks of 1 MiB.
const (
	level     = 3
	blockSize = 128 << 10
	tailSize  = 16 << 10
	// inFlight is how many blocks are compressed at once.
	inFlight = 4
)

// settings names the compression: the parameters above and the version of
// the flate implementation. It is part of every key, so that entries and
// blocks written with other settings are never mixed up: a block compressed
// by another flate version would decompress the same but change the digest.
const settings = "gzip-l3-b128k-t16k-flate-" + flateVersion

// flateVersion is the version of github.com/klauspost/compress that go.mod
// requires (a test checks it): a new version may compress otherwise.
const flateVersion = "v1.20.3"

// gzipHeader is what pgzip writes first: no name, unknown OS, and as the
// time the zero time.Time's Unix seconds cut to 32 bits (so, 0x886e0900).
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0x00, 0x09, 0x6e, 0x88, 0, 255}

// block records one compressed block of a stream: the key of what it was
// compressed from, and where its bytes are in the stream, with the CRC-32C
// of the key and the bytes. The checksum finds a stream truncated,
// corrupted or written over since, and a record filed under another
// block's key; a cryptographic hash would add nothing, as whoever can
// write the stream can write its list of blocks too.
type block struct {
	Key    string `json:"key"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	CRC32C uint32 `json:"crc32c"`
}

// earlier is a stream compressed before, whose blocks may be copied.
type earlier struct {
	blob   io.ReaderAt
	blocks map[string]block
}

// blockWriter compresses what is written to it into w as a gzip stream, in
// blocks, copying from prev the blocks it has already compressed.
type blockWriter struct {
	w    io.Writer
	prev *earlier
	// keyed says to name each block by its key, for a later layer to copy.
	keyed   bool
	started bool
	closed  bool
	crc     hash.Hash32
	size    uint32
	cur     *[]byte
	tail    []byte
	queue   []*job
	offset  int64
	blocks  []block
	reused  int
	err     error
}

// job is one block being compressed (or copied).
type job struct {
	done   chan struct{}
	out    *[]byte
	crc    uint32 // of out
	key    string
	copied bool
	err    error
}

var (
	blockPool = sync.Pool{New: func() any {
		b := make([]byte, 0, blockSize)
		return &b
	}}
	// outPool holds compressed blocks, a little larger than their input
	// at worst.
	outPool = sync.Pool{New: func() any {
		b := make([]byte, 0, blockSize+blockSize/16)
		return &b
	}}
	flatePool = sync.Pool{New: func() any {
		w, _ := flate.NewWriter(nil, level)
		return w
	}}
)

// newBlockWriter returns a writer of the stream to w that, when keyed,
// lists its blocks by their keys and copies those prev has.
func newBlockWriter(w io.Writer, prev *earlier, keyed bool) *blockWriter {
	return &blockWriter{w: w, prev: prev, keyed: keyed, crc: crc32.NewIEEE(), cur: newBlock()}
}

var errClosed = errors.New("the compressed stream is closed")

func newBlock() *[]byte {
	b := blockPool.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// start writes the header, once.
func (bw *blockWriter) start() error {
	if bw.closed {
		return errClosed
	}
	if bw.started || bw.err != nil {
		return bw.err
	}
	bw.started = true
	if _, err := bw.w.Write(gzipHeader); err != nil {
		bw.err = err
		return err
	}
	bw.offset = int64(len(gzipHeader))
	return nil
}

func (bw *blockWriter) Write(p []byte) (int, error) {
	if err := bw.start(); err != nil {
		return 0, err
	}
	n := len(p)
	bw.crc.Write(p)
	bw.size += uint32(n)
	for len(p) > 0 {
		k := min(len(p), blockSize-len(*bw.cur))
		*bw.cur = append(*bw.cur, p[:k]...)
		p = p[k:]
		if len(*bw.cur) == blockSize {
			if err := bw.submit(false); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// submit starts compressing the current block, and writes out the oldest
// when inFlight are under way.
func (bw *blockWriter) submit(last bool) error {
	buf, tail := bw.cur, bw.tail
	in := *buf
	if len(in) > tailSize {
		bw.tail = append([]byte(nil), in[len(in)-tailSize:]...)
	} else {
		bw.tail = nil
	}
	bw.cur = newBlock()
	j := &job{done: make(chan struct{})}
	go func() {
		defer close(j.done)
		defer blockPool.Put(buf)
		j.out = outPool.Get().(*[]byte)
		if bw.keyed {
			j.key = blockKey(tail, in, last)
			if j.crc, j.copied = bw.prev.block(j.key, j.out); j.copied {
				return
			}
		}
		if j.err = compressBlock(tail, in, last, j.out); j.err == nil && bw.keyed {
			j.crc = recordCRC(j.key, *j.out)
		}
	}()
	bw.queue = append(bw.queue, j)
	if len(bw.queue) >= inFlight {
		return bw.drain(1)
	}
	return nil
}

// drain writes out the oldest n blocks, in order.
func (bw *blockWriter) drain(n int) error {
	for ; n > 0 && len(bw.queue) > 0; n-- {
		j := bw.queue[0]
		bw.queue = bw.queue[1:]
		<-j.done
		out := *j.out
		if bw.err == nil && j.err != nil {
			bw.err = j.err
		}
		if bw.err == nil {
			_, bw.err = bw.w.Write(out)
		}
		outPool.Put(j.out)
		if bw.err != nil {
			continue
		}
		if j.copied {
			bw.reused++
		}
		if bw.keyed {
			bw.blocks = append(bw.blocks, block{Key: j.key, Offset: bw.offset, Size: int64(len(out)), CRC32C: j.crc})
		}
		bw.offset += int64(len(out))
	}
	return bw.err
}

// Close compresses the last block, which may be empty, and writes the
// trailer.
func (bw *blockWriter) Close() error {
	if bw.closed {
		return errClosed
	}
	defer func() { bw.closed = true }()
	if err := bw.start(); err != nil {
		_ = bw.drain(len(bw.queue))
		return err
	}
	if err := bw.submit(true); err != nil {
		_ = bw.drain(len(bw.queue))
		return err
	}
	if err := bw.drain(len(bw.queue)); err != nil {
		return err
	}
	blockPool.Put(bw.cur)
	bw.cur = nil
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], bw.crc.Sum32())
	binary.LittleEndian.PutUint32(trailer[4:], bw.size)
	_, bw.err = bw.w.Write(trailer[:])
	return bw.err
}

// abort waits for the blocks under way, and writes nothing more.
func (bw *blockWriter) abort() {
	if bw.err == nil {
		bw.err = errors.New("compression aborted")
	}
	_ = bw.drain(len(bw.queue))
	bw.closed = true
}

// blockKey names a block's input: its dictionary, its content and whether
// it ends the stream (a last block is closed, so its bytes differ from
// those of the same input in the middle of a stream), under the
// compression settings.
func blockKey(tail, in []byte, last bool) string {
	h := sha256.New()
	var n [17]byte
	binary.LittleEndian.PutUint64(n[:8], uint64(len(tail)))
	binary.LittleEndian.PutUint64(n[8:16], uint64(len(in)))
	if last {
		n[16] = 1
	}
	h.Write([]byte(settings))
	h.Write(n[:])
	h.Write(tail)
	h.Write(in)
	return hex.EncodeToString(h.Sum(nil))
}

// compressBlock deflates in into out with tail as the dictionary, ending
// with a sync flush, or closing the stream when last.
func compressBlock(tail, in []byte, last bool, out *[]byte) error {
	buf := bytes.NewBuffer((*out)[:0])
	fw := flatePool.Get().(*flate.Writer)
	defer flatePool.Put(fw)
	fw.ResetDict(buf, tail)
	if _, err := fw.Write(in); err != nil {
		return err
	}
	if err := fw.Flush(); err != nil {
		return err
	}
	if last {
		if err := fw.Close(); err != nil {
			return err
		}
	}
	*out = buf.Bytes()
	return nil
}

// block reads into out the compressed bytes of the block key names and
// returns their checksum, when the earlier stream has it and its bytes
// still match their checksum.
func (e *earlier) block(key string, out *[]byte) (uint32, bool) {
	if e == nil {
		return 0, false
	}
	b, ok := e.blocks[key]
	if !ok || b.Size <= 0 || b.Size > 2*blockSize || b.Offset < 0 {
		return 0, false
	}
	*out = slices.Grow((*out)[:0], int(b.Size))[:b.Size]
	if _, err := e.blob.ReadAt(*out, b.Offset); err != nil {
		return 0, false
	}
	if recordCRC(key, *out) != b.CRC32C {
		return 0, false
	}
	return b.CRC32C, true
}

// recordCRC is the checksum of a block's record: its key and its bytes.
func recordCRC(key string, out []byte) uint32 {
	return crc32.Update(crc32.Checksum([]byte(key), castagnoli), castagnoli, out)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)
