package push

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// layoutFile is the file that marks a directory as an OCI image layout. It
// is created once and never replaced, so writers lock it.
const layoutFile = "oci-layout"

const layoutVersion = `{"imageLayoutVersion":"1.0.0"}`

// lockLayout makes dir an OCI image layout if it is not one yet (it must
// then be absent or empty), and takes the exclusive lock on its oci-layout
// file. created reports whether dir was made here, so that a failed first
// write can remove it.
func lockLayout(dir string) (unlock func(), created bool, err error) {
	// A writer that failed on a layout it had just made removes it while
	// holding its lock: the waiting writer then starts again.
	for range 10 {
		made, err := initLayout(dir)
		if err != nil {
			return nil, false, err
		}
		created = created || made
		f, ok, err := lockFile(filepath.Join(dir, layoutFile))
		if err != nil {
			return nil, false, err
		}
		if ok {
			return func() { _ = f.Close() }, created, nil
		}
	}
	return nil, false, fmt.Errorf("locking %s: it keeps being removed by another writer", dir)
}

// lockFile opens and locks p, and reports whether p still names the file
// it locked once the lock is held.
func lockFile(p string) (*os.File, bool, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("locking %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("locking %s: %w", p, err)
	}
	locked, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("locking %s: %w", p, err)
	}
	now, err := os.Lstat(p)
	if err != nil || !os.SameFile(locked, now) {
		_ = f.Close()
		return nil, false, nil
	}
	return f, true, nil
}

// initLayout checks what is at dir (see CheckLayout) and, where there is
// no layout yet, makes the directory (0755) and its oci-layout file (0644).
// Concurrent callers agree: oci-layout is created exclusively.
func initLayout(dir string) (created bool, err error) {
	if err := CheckLayout(dir); err != nil {
		return false, err
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return false, fmt.Errorf("creating an OCI layout in %s: %w", dir, err)
		}
		created, err = makeDir(dir)
		if err != nil {
			return false, fmt.Errorf("creating an OCI layout in %s: %w", dir, err)
		}
	}
	p := filepath.Join(dir, layoutFile)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return created, nil
	}
	if err != nil {
		return created, fmt.Errorf("creating an OCI layout in %s: %w", dir, err)
	}
	_, err = f.WriteString(layoutVersion)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return created, fmt.Errorf("creating an OCI layout in %s: %w", dir, err)
	}
	return created, nil
}

// makeDir makes dir with mode 0755 whatever the umask, and reports whether
// it made it (false when another writer did first).
func makeDir(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		fi, statErr := os.Lstat(dir)
		if statErr == nil && fi.IsDir() {
			return false, nil
		}
		return false, err
	}
	if err != nil {
		return false, err
	}
	return true, os.Chmod(dir, 0o755)
}
