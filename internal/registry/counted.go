package registry

import (
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// counted wraps a layer so that the bytes read from Compressed are reported.
// Each call of Compressed starts an upload over (ggcr opens the layer again
// when it restarts one), so onOpen hears of it before any byte is counted:
// only the bytes of the last attempt, the one that succeeds, count.
type counted struct {
	v1.Layer
	onOpen func()
	onRead func(int64)
}

func (c counted) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	c.onOpen()
	return &countingReader{ReadCloser: rc, onRead: c.onRead}, nil
}

type countingReader struct {
	io.ReadCloser
	onRead func(int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	if n > 0 {
		c.onRead(int64(n))
	}
	return n, err
}
