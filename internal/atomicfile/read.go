package atomicfile

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// OpenRegular opens path for reading when it is a regular file, and refuses
// anything else: a FIFO would block the read forever, a device would feed
// it anything. O_NONBLOCK lets the open of a FIFO return, to be refused.
func OpenRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is %s, not a regular file", path, Kind(fi.Mode()))
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// ReadRegular reads the regular file at path (see OpenRegular), refusing
// one of more than max bytes.
func ReadRegular(path string, max int64) ([]byte, error) {
	f, err := OpenRegular(path)
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
