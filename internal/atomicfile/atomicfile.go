// Package atomicfile writes files whole or not at all: to a temporary name
// beside the destination, renamed over it once written and closed. It
// creates or replaces regular files only: whatever else is at the path (a
// device, FIFO, socket, directory or symbolic link) is refused, never
// followed or replaced. OpenRegular and ReadRegular read regular files
// only, for the same reason: a FIFO read would block forever.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotRegular is wrapped by the error for an output path where something
// other than a regular file is.
var ErrNotRegular = errors.New("builder replaces only regular files")

// Check returns nil when path may be written by Write: nothing is there, or
// a regular file. Anything else is refused with an error that names the path
// and says what is there. It never follows a symbolic link; a parent that
// does not exist is left for Write to report.
func Check(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if fi.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("refusing to write %s: %s is there; %w", path, Kind(fi.Mode()), ErrNotRegular)
}

// Kind names the type of file that mode describes: "a directory", "a
// symbolic link", "a character device"…
func Kind(mode fs.FileMode) string {
	switch {
	case mode.IsRegular():
		return "a regular file"
	case mode&fs.ModeDir != 0:
		return "a directory"
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	case mode&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	default:
		return "a special file"
	}
}

// Write writes path with write, on a temporary file beside it that is renamed
// over path once write and Close have succeeded, with mode 0644; on failure
// the temporary file is removed and path is left as it was. Only a regular
// file at path is replaced (see Check), which is checked both before write
// and again just before the rename.
func Write(path string, write func(*os.File) error) (err error) {
	if err := Check(path); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Something may have appeared at path while write ran.
	if err := Check(path); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WriteFile writes data to path as Write does.
func WriteFile(path string, data []byte) error {
	return Write(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// ReplaceFile is WriteFile for a file builder owns, in its cache: a
// special file at path (a FIFO, a socket, a device, a link) is not the
// user's but damage, and is removed first rather than refused.
func ReplaceFile(path string, data []byte) error {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("replacing %s: %w", path, err)
		}
	}
	return WriteFile(path, data)
}
