package cache

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/buildercli/builder/internal/atomicfile"
)

// Lock takes an exclusive advisory lock on the file at path, creating it if
// needed, so that concurrent builds sharing a cache take turns on one entry.
// It blocks until this process holds the lock; the returned function
// releases it.
func Lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}

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
