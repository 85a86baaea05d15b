// Package lockfile takes exclusive advisory locks on files, so that
// concurrent builds sharing a cache take turns on the same entry.
package lockfile

import (
	"fmt"
	"os"
	"syscall"
)

// Lock creates path if needed and blocks until this process holds an
// exclusive lock on it. The returned function releases it.
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
