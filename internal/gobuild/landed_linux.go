package gobuild

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// watchDir calls seen with the name of each file that is renamed into dir,
// until stop is called; stop returns once seen is no longer running. Only
// one seen runs at a time. A rename puts a whole file in place; a file
// written in place is not reported, as a writer that fails may leave it
// cut short. Events the kernel drops (a full queue) are not reported
// either: a watch only hastens what the caller does anyway once the
// writer is done.
func watchDir(dir string, seen func(name string)) (stop func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MOVED_TO|unix.IN_ONLYDIR); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	// A non-blocking descriptor goes to the runtime's poller, so that
	// Close wakes the Read below.
	f := os.NewFile(uintptr(fd), "inotify")
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for _, name := range eventNames(buf[:n]) {
				seen(name)
			}
		}
	}()
	return func() {
		_ = f.Close()
		<-done
	}, nil
}

// eventNames returns the names that the inotify events in buf carry.
func eventNames(buf []byte) []string {
	var names []string
	for len(buf) >= unix.SizeofInotifyEvent {
		// struct inotify_event: wd, mask, cookie, len, then len bytes of
		// name, padded with NULs.
		mask := binary.NativeEndian.Uint32(buf[4:8])
		size := int(binary.NativeEndian.Uint32(buf[12:16]))
		buf = buf[unix.SizeofInotifyEvent:]
		if size > len(buf) {
			break
		}
		name := buf[:size]
		buf = buf[size:]
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		if mask&unix.IN_Q_OVERFLOW == 0 && len(name) > 0 {
			names = append(names, string(name))
		}
	}
	return names
}
