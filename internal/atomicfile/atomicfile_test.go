package atomicfile_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/buildercli/builder/internal/atomicfile"
)

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	for _, content := range []string{"first", "second"} {
		if err := atomicfile.WriteFile(p, []byte(content)); err != nil {
			t.Fatalf("WriteFile: %v", err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		if diff := cmp.Diff(content, string(got)); diff != "" {
			t.Errorf("content (-want +got):\n%s", diff)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if fi.Mode() != 0o644 {
			t.Errorf("mode %v under umask 077, want -rw-r--r--", fi.Mode())
		}
	}
	if diff := cmp.Diff([]string{"out"}, listDir(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestWriteFailureLeavesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	if err := os.WriteFile(p, []byte("before"), 0o644); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
	boom := errors.New("boom")
	err := atomicfile.Write(p, func(f *os.File) error {
		if _, err := f.WriteString("half"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want %v", err, boom)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	if string(got) != "before" {
		t.Errorf("content after a failed Write = %q, want %q", got, "before")
	}
	if diff := cmp.Diff([]string{"out"}, listDir(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

// Whatever is at an output path and is not a regular file is refused, and
// left exactly as it was: never followed, never replaced.
func TestWriteRefusesSpecialFiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		make     func(t *testing.T, p string)
		wantKind string
	}{
		{"directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatalf("making %s: %v", p, err)
			}
		}, "a directory"},
		{"symlink to a file", func(t *testing.T, p string) {
			target := filepath.Join(filepath.Dir(p), "target")
			if err := os.WriteFile(target, []byte("target"), 0o644); err != nil {
				t.Fatalf("writing %s: %v", target, err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatalf("symlink: %v", err)
			}
		}, "a symbolic link"},
		{"dangling symlink", func(t *testing.T, p string) {
			if err := os.Symlink(filepath.Join(filepath.Dir(p), "nowhere"), p); err != nil {
				t.Fatalf("symlink: %v", err)
			}
		}, "a symbolic link"},
		{"FIFO", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatalf("mkfifo %s: %v", p, err)
			}
		}, "a FIFO"},
		{"socket", func(t *testing.T, p string) {
			l, err := net.Listen("unix", p)
			if err != nil {
				t.Skipf("listening on a unix socket: %v", err)
			}
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			t.Cleanup(func() { _ = l.Close() })
		}, "a socket"},
		{"character device", func(t *testing.T, p string) {
			// The same device as /dev/null, made in a temporary directory
			// so that a broken Write cannot harm the real one.
			if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
				t.Skipf("mknod needs root: %v", err)
			}
		}, "a character device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "out")
			tc.make(t, p)
			before := snapshot(t, dir)
			err := atomicfile.WriteFile(p, []byte("data"))
			if !errors.Is(err, atomicfile.ErrNotRegular) {
				t.Fatalf("WriteFile onto %s = %v, want ErrNotRegular", tc.name, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, p) || !strings.Contains(msg, tc.wantKind) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s and saying %q", msg, p, tc.wantKind)
			}
			if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
				t.Errorf("files after a refused write (-want +got):\n%s", diff)
			}
			if err := atomicfile.Check(p); !errors.Is(err, atomicfile.ErrNotRegular) {
				t.Errorf("Check = %v, want ErrNotRegular", err)
			}
		})
	}
}

// snapshot describes every name in dir: its type, and a regular file's
// content or a link's target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range listDir(t, dir) {
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		desc := fi.Mode().Type().String()
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("reading %s: %v", p, err)
			}
			desc += " " + string(data)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				t.Fatalf("readlink %s: %v", p, err)
			}
			desc += " -> " + target
		}
		out[name] = desc
	}
	return out
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatalf("writing %s: %v", file, err)
	}
	for _, tc := range []struct {
		path     string
		wantKind string // "" for no error
	}{
		{filepath.Join(dir, "absent"), ""},
		{file, ""},
		{dir, "a directory"},
		{"/dev/null", "a character device"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			err := atomicfile.Check(tc.path)
			if tc.wantKind == "" {
				if err != nil {
					t.Errorf("Check(%s) = %v, want nil", tc.path, err)
				}
				return
			}
			if !errors.Is(err, atomicfile.ErrNotRegular) || !strings.Contains(err.Error(), tc.wantKind) {
				t.Errorf("Check(%s) = %v, want ErrNotRegular saying %q", tc.path, err, tc.wantKind)
			}
		})
	}
}
