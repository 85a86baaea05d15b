package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/buildercli/builder/internal/registrytest"
)

// shorten sets a package variable for the test's duration. Tests that use
// it cannot run in parallel.
func shorten[T any](t *testing.T, v *T, to T) {
	t.Helper()
	old := *v
	*v = to
	t.Cleanup(func() { *v = old })
}

// checkOneLine fails t unless err wraps want and is one line that says
// each of says.
func checkOneLine(t *testing.T, err, want error, says ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error %q is not one line", msg)
	}
	for _, s := range says {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not say %q", msg, s)
		}
	}
}

// A registry that sends headers and half a body, or takes a request and
// never answers, fails the request within IdleTimeout, whatever it was.
func TestIdleRegistryFailsWithinBound(t *testing.T) {
	shorten(t, &IdleTimeout, 300*time.Millisecond)
	img := ociImage(t, 1)
	d, digests, _ := layerFacts(t, img)
	for _, tc := range []struct {
		name  string
		fault registrytest.Fault
		hold  bool
		do    func(ctx context.Context, c Client, reg *registrytest.Registry) error
	}{
		{"tag list stalls half way", registrytest.Fault{Kind: registrytest.KindTagList, Stall: true},
			false, func(ctx context.Context, c Client, reg *registrytest.Registry) error {
				s, err := c.Open(reg.Repo(t, "app"))
				if err != nil {
					return err
				}
				_, err = s.Tags(ctx)
				return err
			}},
		{"manifest stalls half way", registrytest.Fault{Kind: registrytest.KindManifestRead, Method: http.MethodGet, Stall: true},
			false, func(ctx context.Context, c Client, reg *registrytest.Registry) error {
				_, err := c.Get(ctx, reg.Repo(t, "app").Digest(d.String()))
				return err
			}},
		{"blob stalls half way", registrytest.Fault{Kind: registrytest.KindBlobRead, Method: http.MethodGet, Stall: true},
			false, func(ctx context.Context, c Client, reg *registrytest.Registry) error {
				l, err := remote.Layer(reg.Repo(t, "app").Digest(digests[0]), append(c.Options(), remote.WithContext(ctx))...)
				if err != nil {
					return err
				}
				rc, err := l.Compressed()
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, rc)
				if cerr := rc.Close(); err == nil {
					err = cerr
				}
				return err
			}},
		{"upload never answered", registrytest.Fault{}, true,
			func(ctx context.Context, c Client, reg *registrytest.Registry) error {
				s, err := c.Open(reg.Repo(t, "other"))
				if err != nil {
					return err
				}
				_, err = s.Push(ctx, ociImage(t, 1))
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
			reg.Push(t, "app:v1", img)
			if tc.hold {
				reg.HoldFirstUpload()
			} else {
				reg.Inject(tc.fault)
			}
			c := Client{Keychain: registrytest.Anonymous, Transport: NewTransport(nil, nil)}
			// Without a bound, the request would wait for this.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			err := tc.do(ctx, c, reg)
			elapsed := time.Since(start)
			checkOneLine(t, err, ErrIdle, "the registry sent nothing for 300ms")
			if bound := IdleTimeout + 2*time.Second; elapsed > bound {
				t.Errorf("failed after %s, want within %s", elapsed, bound)
			}
		})
	}
}

// Answers read into memory are bounded: a tag list, even spread over many
// pages, at MaxTagListBytes; a manifest at MaxManifestBytes.
func TestOversizedAnswersFail(t *testing.T) {
	img := ociImage(t, 1)
	d, _, _ := layerFacts(t, img)
	tags := func(ctx context.Context, c Client, host string) error {
		s, err := c.Open(repoOn(t, host))
		if err != nil {
			return err
		}
		_, err = s.Tags(ctx)
		return err
	}
	for _, tc := range []struct {
		name  string
		fault registrytest.Fault
		do    func(ctx context.Context, c Client, host string) error
		says  string
	}{
		{"300 MB tag list, streamed", registrytest.Fault{Kind: registrytest.KindTagList, Oversize: 300 << 20, Chunked: true},
			tags, "builder reads at most 64 MiB"},
		{"300 MB tag list, announced", registrytest.Fault{Kind: registrytest.KindTagList, Oversize: 300 << 20},
			tags, "builder reads at most 64 MiB"},
		{"5 MiB manifest", registrytest.Fault{Kind: registrytest.KindManifestRead, Method: http.MethodGet, Oversize: 5 << 20, Chunked: true},
			func(ctx context.Context, c Client, host string) error {
				_, err := c.Get(ctx, repoOn(t, host).Digest(d.String()))
				return err
			}, "builder reads at most 4 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
			reg.Push(t, "app:v1", img)
			reg.Inject(tc.fault)
			c := Client{Keychain: registrytest.Anonymous, Transport: NewTransport(nil, nil)}
			err := tc.do(context.Background(), c, reg.Host)
			checkOneLine(t, err, ErrTooLarge, tc.says)
		})
	}
	t.Run("tag list in many pages", func(t *testing.T) {
		shorten(t, &MaxTagListBytes, 1<<20)
		host := pagedRegistry(t, 64<<10, 100) // 6.4 MiB in all
		err := tags(context.Background(), Client{Keychain: registrytest.Anonymous, Transport: NewTransport(nil, nil)}, host)
		checkOneLine(t, err, ErrTooLarge, "builder reads at most 1 MiB")
	})
}

// pagedRegistry serves /v2/ and a tag list of pages pages, each of about
// size bytes and linking to the next, and returns its host.
func pagedRegistry(t *testing.T, size, pages int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		var page int
		if last := req.URL.Query().Get("last"); last != "" {
			if _, err := fmt.Sscanf(last, "p%d", &page); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		if page+1 < pages {
			w.Header().Set("Link", fmt.Sprintf(`</v2/app/tags/list?n=1&last=p%d>; rel="next"`, page+1))
		}
		tag := fmt.Sprintf("p%d%s", page, strings.Repeat("x", size))
		fmt.Fprintf(w, `{"name":"app","tags":[%q]}`, tag)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func repoOn(t *testing.T, host string) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(host + "/app")
	if err != nil {
		t.Fatalf("NewRepository: %v", err)
	}
	return repo
}

// A manifest whose bytes do not hash to the digest it was asked by is
// refused. (By tag, ggcr checks nothing: registries disagree on what
// Docker-Content-Digest names; base.Resolve pulls by digest.)
func TestCorruptManifestIsRefused(t *testing.T) {
	img := ociImage(t, 1)
	d, _, _ := layerFacts(t, img)
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	reg.Push(t, "app:v1", img)
	reg.Inject(registrytest.Fault{Kind: registrytest.KindManifestRead, Method: http.MethodGet, Corrupt: true})
	c := Client{Keychain: registrytest.Anonymous, Transport: NewTransport(nil, nil)}
	_, err := c.Get(context.Background(), repoOn(t, reg.Host).Digest(d.String()))
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Get of a corrupt manifest = %v, want a digest mismatch", err)
	}
}

// A HEAD announces the length of what it does not send: a blob larger than
// any bound is found in place (as a push checks), not refused.
func TestHeadOfLargeBlob(t *testing.T) {
	l, err := random.Layer(MaxManifestBytes+1<<20, types.OCILayer)
	if err != nil {
		t.Fatalf("random.Layer: %v", err)
	}
	img, err := mutate.AppendLayers(ociImage(t, 0), l)
	if err != nil {
		t.Fatalf("AppendLayers: %v", err)
	}
	reg := registrytest.New(t, registrytest.Config{})
	reg.Push(t, "app:v1", img)
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: NewTransport(nil, nil)}
	// Direct: the registry's own answer, with the blob's length.
	resp, err := c.Head("http://" + reg.Direct + "/v2/app/blobs/" + d.String())
	if err != nil {
		t.Fatalf("HEAD of a %d-byte blob: %v", MaxManifestBytes+1<<20, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength <= MaxManifestBytes {
		t.Errorf("HEAD: %s, length %d; want 200 and the blob's length", resp.Status, resp.ContentLength)
	}
}
