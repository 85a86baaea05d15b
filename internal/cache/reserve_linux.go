package cache

import (
	"errors"
	"os"
	"syscall"
)

// reserve has the file system give f's first byte a block on disk, so that
// a full disk fails now rather than when the page cache is written back.
// fallocate asks for the block alone; Sync, where the file system cannot
// fallocate, also waits for whatever else is waiting to be written, which
// after a build can be the compiler's binaries.
func reserve(f *os.File) error {
	c, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := c.Control(func(fd uintptr) {
		// The runtime's preemption signals may interrupt the call.
		for ferr = syscall.EINTR; errors.Is(ferr, syscall.EINTR); {
			ferr = syscall.Fallocate(int(fd), 0, 0, 1)
		}
	}); err != nil {
		return err
	}
	if errors.Is(ferr, syscall.EOPNOTSUPP) || errors.Is(ferr, syscall.ENOSYS) {
		return f.Sync()
	}
	return ferr
}
