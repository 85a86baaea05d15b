package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	// throttleRate is how fast the proxy passes upload bodies on, in bytes
	// per second while throttled: the app's layer then takes tens of seconds.
	throttleRate = 200 << 10
	// stopDeadline bounds the exit of builder after a signal.
	stopDeadline = 5 * time.Second
)

// slowProxy is a plain-HTTP reverse proxy on loopback in front of a
// registry. While throttled, it slows blob upload bodies down; it reports
// the start of the first upload.
type slowProxy struct {
	host      string // 127.0.0.1:PORT
	throttled atomic.Bool
	once      sync.Once
	uploading chan struct{} // closed when the first upload body arrives
}

// startSlowProxy serves a throttled proxy to reg until t ends.
func startSlowProxy(t *testing.T, reg *registry) *slowProxy {
	t.Helper()
	target := &url.URL{Scheme: "https", Host: reg.host}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// The registry writes upload locations for the proxy's address.
			pr.SetXForwarded()
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(t, reg.caFile)}},
		// Interrupted uploads are the point; the proxy need not report them.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p := &slowProxy{uploading: make(chan struct{})}
	p.throttled.Store(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the proxy: %v", err)
	}
	p.host = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upload := strings.Contains(r.URL.Path, "/blobs/uploads/") && (r.Method == http.MethodPatch || r.Method == http.MethodPut)
		if upload && r.ContentLength != 0 {
			p.once.Do(func() { close(p.uploading) })
			if p.throttled.Load() {
				r.Body = &slowReader{done: r.Context().Done(), r: r.Body}
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// slowReader reads at most throttleRate bytes a second from r.
type slowReader struct {
	done <-chan struct{} // closed when the client goes away
	r    io.ReadCloser
}

func (s *slowReader) Read(p []byte) (int, error) {
	const tick = 50 * time.Millisecond
	if n := throttleRate * int(tick) / int(time.Second); len(p) > n {
		p = p[:n]
	}
	select {
	case <-s.done:
		return 0, context.Canceled
	case <-time.After(tick):
	}
	return s.r.Read(p)
}

func (s *slowReader) Close() error { return s.r.Close() }

// TestPublishInterrupt stops publishes in the middle of their uploads, with
// SIGINT and with SIGTERM: builder must exit promptly and non-zero, having
// written no tag, and the same command must then complete.
func TestPublishInterrupt(t *testing.T) {
	requireRegistryTools(t)
	built(t)
	t.Parallel()
	reg := startRegistry(t, true)
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		path string
	}{
		{"SIGINT", syscall.SIGINT, "team/interrupt"},
		{"SIGTERM", syscall.SIGTERM, "team/terminate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := startSlowProxy(t, reg)
			p := newPublisher(t, reg)
			// The proxy is another host to the credential store.
			p.env = append(p.env, "DOCKER_CONFIG="+dockerConfig(t, regUser, regPass, reg.host, proxy.host))
			args := []string{"publish", "--tag", "v2.0.0", "--repo", proxy.host + "/" + tc.path}

			res := p.interrupt(t, proxy, tc.sig, args...)
			if res.code == 0 {
				t.Fatalf("publish exited 0 after %s: %v", tc.name, res)
			}
			if !strings.Contains(res.stderr, "interrupted") {
				t.Errorf("stderr does not say the publish was interrupted: %v", res)
			}
			t.Logf("after %s: %v", tc.name, res)
			if out, _, err := reg.craneRun("ls", reg.host+"/"+tc.path); err == nil {
				if tags := strings.Fields(out); len(tags) > 0 {
					t.Errorf("the interrupted publish left tags: %v", tags)
				}
			} else if !strings.Contains(err.Error(), "NAME_UNKNOWN") {
				t.Errorf("crane ls after the interrupted publish: %v", err)
			}

			proxy.throttled.Store(false)
			res = p.run(t, nil, args...)
			if res.code != 0 {
				t.Fatalf("publishing again failed: %v", res)
			}
			want := []string{"git-" + p.commit, "latest", "v2", "v2.0", "v2.0.0"}
			if diff := cmp.Diff(want, reg.tags(t, tc.path)); diff != "" {
				t.Errorf("tags after publishing again (-want +got):\n%s", diff)
			}
			reg.mustCrane(t, "validate", "--remote", reg.host+"/"+tc.path+":v2.0.0")
		})
	}
}

// interrupt starts builder with args, sends it sig once the proxy sees the
// first upload, and requires it to exit on its own, within stopDeadline.
func (p *publisher) interrupt(t *testing.T, proxy *slowProxy, sig syscall.Signal, args ...string) outcome {
	t.Helper()
	cmd := exec.Command(p.builder, args...)
	cmd.Dir = p.clone
	cmd.Env = append(os.Environ(), p.env...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting builder: %v", err)
	}
	done := make(chan struct{})
	var err error
	go func() {
		err = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})
	res := outcome{args: args}
	select {
	case <-proxy.uploading:
	case <-done:
		res.stdout, res.stderr = stdout.String(), stderr.String()
		t.Fatalf("builder exited (%v) before uploading anything: %v", err, res)
	case <-time.After(buildTimeout):
		t.Fatalf("builder started no upload within %s; stderr:\n%s", buildTimeout, stderr.String())
	}
	start := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %s: %v", sig, err)
	}
	select {
	case <-done:
	case <-time.After(stopDeadline):
		t.Fatalf("builder did not exit within %s of %s; stderr so far:\n%s", stopDeadline, sig, stderr.String())
	}
	res.took = time.Since(start)
	res.stdout, res.stderr = stdout.String(), stderr.String()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.Exited():
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("builder did not exit on its own after %s: %v\n%v", sig, err, res)
	}
	return res
}
