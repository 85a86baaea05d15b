package pipeline_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
)

// releaseTags are the tags a clean publish of v1.2.0 writes, given its
// git-<commit> tag.
func releaseTags(gitTag string) []string { return []string{"v1.2.0", gitTag, "v1.2", "v1", "latest"} }

// allAt maps each of tags to d.
func allAt(tags []string, d string) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[t] = d
	}
	return m
}

func TestPublishSurvivesFaults(t *testing.T) {
	t.Parallel()
	pkg, gitTag := hello(t, nil)
	calm := registrytest.New(t, registrytest.Config{})
	want := run(t, options(pkg, calm.Direct+"/calm", "v1.2.0")).Digest

	for _, tc := range []struct {
		name  string
		fault registrytest.Fault
	}{
		{"the first 3 requests answer 503", registrytest.Fault{N: 3, Status: http.StatusServiceUnavailable}},
		{"the first upload answers 429 with Retry-After", registrytest.Fault{Kind: registrytest.KindUpload, N: 1, Status: http.StatusTooManyRequests, RetryAfter: "1"}},
		{"the first 2 uploads drop the connection", registrytest.Fault{Kind: registrytest.KindUpload, N: 2}},
		{"the first 2 PATCHes drop the connection", registrytest.Fault{Kind: registrytest.KindUpload, Method: http.MethodPatch, N: 2}},
		{"the first tag PUT answers 502", registrytest.Fault{Kind: registrytest.KindManifestTag, N: 1, Status: http.StatusBadGateway}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{})
			reg.Inject(tc.fault)
			res := run(t, options(pkg, reg.Host+"/app", "v1.2.0"))
			if res.Digest != want {
				t.Errorf("digest = %s, want %s as without faults", res.Digest, want)
			}
			if got := reg.Spoiled(); got != tc.fault.N {
				t.Errorf("%d requests spoiled, want %d: the fault did not apply as meant", got, tc.fault.N)
			}
			if diff := cmp.Diff(allAt(releaseTags(gitTag), want.String()), tagsOf(t, reg.Direct+"/app")); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			checkImage(t, reg.Direct+"/app", res.Digest)
		})
	}
}

func TestPublishGivesUpOnBrokenRegistry(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	reg.Inject(registrytest.Fault{Status: http.StatusServiceUnavailable}) // every request
	start := time.Now()
	_, err := options(committed(t, nil), reg.Host+"/app", "v1.2.0").publish(context.Background())
	elapsed := time.Since(start)
	checkOneLine(t, err, "503")
	// The documented bound is about 30 seconds; allow twice that.
	if elapsed > 60*time.Second {
		t.Errorf("gave up after %v, want within about 30s", elapsed)
	}
	if n := reg.Writes(); n != 0 {
		t.Errorf("%d writes were served", n)
	}
	if tags := tagsOf(t, reg.Direct+"/app"); len(tags) != 0 {
		t.Errorf("a failed publish left tags %v", tags)
	}
}

func TestPublishWrongCredentials(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	reg.RequireAuth("ci", "right")
	pkg := committed(t, nil)
	for _, tc := range []struct {
		name     string
		password string
		wantErr  bool
	}{
		{"wrong password", "wrong", true},
		{"right password", "right", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.Reset()
			o := options(pkg, reg.Host+"/"+strings.ReplaceAll(tc.name, " ", "-"), "v1.2.0")
			o.env.Registry.Keychain = registrytest.Keychain{Auth: authn.FromConfig(authn.AuthConfig{Username: "ci", Password: tc.password})}
			res, err := o.publish(context.Background())
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				checkImage(t, reg.Direct+"/right-password", res.Digest)
				return
			}
			if !errors.Is(err, registry.ErrAuth) {
				t.Fatalf("Run = %v, want an error wrapping registry.ErrAuth", err)
			}
			checkOneLine(t, err, "builder login "+reg.Host)
			if n := reg.Writes(); n != 0 {
				t.Errorf("%d writes were served", n)
			}
			if tags := tagsOf(t, reg.Direct+"/wrong-password"); len(tags) != 0 {
				t.Errorf("a refused publish left tags %v", tags)
			}
		})
	}
}

// TestPublishPlainHTTPRegistry publishes to a plain-HTTP registry under a
// name that is not loopback: registry.test, dialled to the test server.
func TestPublishPlainHTTPRegistry(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	_, port, err := net.SplitHostPort(reg.Host)
	if err != nil {
		t.Fatalf("SplitHostPort: %v", err)
	}
	host := "registry.test:" + port
	var d net.Dialer
	base := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, reg.Host)
	}}
	t.Cleanup(base.CloseIdleConnections)
	pkg, gitTag := hello(t, nil)
	for _, tc := range []struct {
		name     string
		insecure []string
	}{
		{"refused without --insecure-registry", nil},
		{"allowed with --insecure-registry", []string{host}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.Reset()
			o := options(pkg, host+"/app", "v1.2.0")
			o.env.Registry.Insecure = tc.insecure
			o.env.Registry.Transport = registry.NewTransport(base, tc.insecure)
			res, err := o.publish(context.Background())
			if tc.insecure == nil {
				checkOneLine(t, err, "--insecure-registry "+host)
				if n := reg.Writes(); n != 0 {
					t.Errorf("%d writes were served", n)
				}
				if tags := tagsOf(t, reg.Direct+"/app"); len(tags) != 0 {
					t.Errorf("a refused publish left tags %v", tags)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Repository != host+"/app" {
				t.Errorf("published to %s, want %s/app", res.Repository, host)
			}
			if diff := cmp.Diff(allAt(releaseTags(gitTag), res.Digest.String()), tagsOf(t, reg.Direct+"/app")); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPublishInterrupted(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	held := reg.HoldFirstUpload()
	pkg, gitTag := hello(t, nil)
	o := options(pkg, reg.Host+"/app", "v1.2.0")

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		_, err := o.publish(ctx)
		done <- err
	}()
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("Run returned before an upload was held: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("interrupted Run = %v, want context.Canceled", err)
		}
		checkOneLine(t, err, "interrupted")
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return within 10s of the interrupt")
	}
	if tags := tagsOf(t, reg.Direct+"/app"); len(tags) != 0 {
		t.Errorf("an interrupted publish left tags %v", tags)
	}

	res := run(t, o)
	checkImage(t, reg.Direct+"/app", res.Digest)
	if diff := cmp.Diff(allAt(releaseTags(gitTag), res.Digest.String()), tagsOf(t, reg.Direct+"/app")); diff != "" {
		t.Errorf("tags after publishing again (-want +got):\n%s", diff)
	}
}
