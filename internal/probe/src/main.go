// Command probe is builder's HTTP healthcheck for services that have no
// healthcheck mode of their own: `probe http://127.0.0.1:PORT/PATH [SECONDS]`
// exits 0 when a GET of PATH on the loopback port answers 2xx or 3xx within
// SECONDS (default 2), else 1. It uses the syscall package, not net, so
// that it adds little to an image and needs no shell, DNS or certificates.
package main

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := probe(os.Args[1:]); err != "" {
		_, _ = os.Stderr.WriteString("probe: " + err + "\n")
		os.Exit(1)
	}
}

// probe returns "" when the service is healthy, else what went wrong.
func probe(args []string) string {
	if len(args) < 1 || len(args) > 2 {
		return "usage: probe http://127.0.0.1:PORT/PATH [SECONDS]"
	}
	port, path, ok := parse(args[0])
	if !ok {
		return "not a loopback http URL: " + args[0]
	}
	secs := 2
	if len(args) == 2 {
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 || n > 3600 {
			return "timeout must be 1 to 3600 seconds: " + args[1]
		}
		secs = n
	}
	status, err := get(port, path, secs)
	if err != "" {
		return err
	}
	if status < 200 || status > 399 {
		return "GET " + path + " answered " + strconv.Itoa(status)
	}
	return ""
}

// parse reads http://127.0.0.1:PORT/PATH (or localhost).
func parse(url string) (int, string, bool) {
	rest, ok := strings.CutPrefix(url, "http://")
	if !ok {
		return 0, "", false
	}
	hostPort, path, _ := strings.Cut(rest, "/")
	host, portStr, ok := strings.Cut(hostPort, ":")
	if !ok || (host != "127.0.0.1" && host != "localhost") {
		return 0, "", false
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return 0, "", false
	}
	return port, "/" + path, true
}

// get sends GET path to 127.0.0.1:port and returns the status code, each
// socket operation bounded by secs seconds, and the whole by twice that.
//
// A socket call that a signal interrupts is made again: with a timeout set
// (SO_SNDTIMEO, SO_RCVTIMEO) Linux fails it with EINTR rather than restart
// it, and Go's runtime signals its own threads to preempt them.
func get(port int, path string, secs int) (int, string) {
	deadline := time.Now().Add(2 * time.Duration(secs) * time.Second)
	again := func(err error) bool {
		return (errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EALREADY)) && time.Now().Before(deadline)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, "socket: " + err.Error()
	}
	defer syscall.Close(fd)
	tv := syscall.Timeval{Sec: int64(secs)}
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	for {
		// An interrupted connect goes on: asked again, it says
		// EALREADY until it is done, then EISCONN.
		err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
		if err == nil || errors.Is(err, syscall.EISCONN) {
			break
		}
		if !again(err) {
			return 0, "connecting to 127.0.0.1:" + strconv.Itoa(port) + ": " + err.Error()
		}
	}
	req := "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1:" + strconv.Itoa(port) +
		"\r\nUser-Agent: builder-probe\r\nConnection: close\r\n\r\n"
	for b := []byte(req); len(b) > 0; {
		n, err := syscall.Write(fd, b)
		if again(err) {
			continue
		}
		if err != nil {
			return 0, "sending the request: " + err.Error()
		}
		b = b[n:]
	}
	// The status line: "HTTP/1.x NNN reason".
	var head []byte
	buf := make([]byte, 512)
	for len(head) < 12 {
		n, err := syscall.Read(fd, buf)
		if again(err) {
			continue
		}
		if err != nil {
			return 0, "reading the answer: " + err.Error()
		}
		if n == 0 {
			return 0, "the service closed the connection without an answer"
		}
		head = append(head, buf[:n]...)
	}
	if !strings.HasPrefix(string(head), "HTTP/1.") || head[8] != ' ' {
		return 0, "not an HTTP answer"
	}
	status, err := strconv.Atoi(string(head[9:12]))
	if err != nil {
		return 0, "not an HTTP answer"
	}
	return status, ""
}
