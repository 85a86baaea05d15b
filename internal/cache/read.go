package cache

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/buildercli/builder/internal/atomicfile"
)

// openRegular opens path for reading when it is a regular file. A record or
// blob that is anything else is as good as missing: a FIFO would block the
// read forever, a device would feed it anything. O_NONBLOCK lets the open
// of a FIFO return, to be refused.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is %s, not a regular file", path, atomicfile.Kind(fi.Mode()))
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// readRegular reads the regular file at path (see openRegular), refusing
// one of more than max bytes.
func readRegular(path string, max int64) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(data)) > max {
		err = fmt.Errorf("%s holds more than %d bytes", path, max)
	}
	return data, err
}
