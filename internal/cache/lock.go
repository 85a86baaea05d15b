package cache

import (
	"fmt"
	"os"
	"syscall"
)

// Lock takes an exclusive advisory lock on the file at path, creating it if
// needed, so that concurrent builds sharing a cache take turns on one entry.
// It blocks until this process holds the lock; the returned function
// releases it.
func Lock(path string) (func(), error) {
	return flock(path, syscall.LOCK_EX)
}

// flock takes the lock how (syscall.LOCK_EX or LOCK_SH, with LOCK_NB
// not to wait) on the file at path, creating it if needed.
func flock(path string, how int) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}
