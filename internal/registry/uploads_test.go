package registry

import (
	"context"
	"net/http"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/registrytest"
)

// TestPushesShareUploads: images that share a base, pushed at once to
// repositories of one registry by one run, send each base layer once; the
// other pushes mount it, with no record of mounts on disk to go by. A push
// that fails leaves the others to send what it did not, without hanging.
func TestPushesShareUploads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fail bool // the first upload of content fails (ggcr does not retry a 400)
	}{
		{name: "shared"},
		{name: "the first upload fails", fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
			base := ociImage(t, 2)
			_, baseLayers, _ := layerFacts(t, base)
			repos := []string{"a", "b", "c", "d"}
			imgs := make([]v1.Image, len(repos))
			for i := range imgs {
				own, err := random.Layer(4096, types.OCILayer)
				if err != nil {
					t.Fatal(err)
				}
				if imgs[i], err = mutate.AppendLayers(base, own); err != nil {
					t.Fatal(err)
				}
			}
			if tc.fail {
				reg.Inject(registrytest.Fault{Method: http.MethodPut, Kind: registrytest.KindUpload, N: 1, Status: http.StatusBadRequest})
			}
			c := Client{Keychain: registrytest.Anonymous, uploads: &uploads{}}
			// Pushes left waiting for a failed upload would hang: fail instead.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			errs := make([]error, len(repos))
			var g errgroup.Group
			for i := range imgs {
				g.Go(func() error {
					_, errs[i] = open(t, reg.Repo(t, repos[i]), c).Push(ctx, imgs[i])
					return nil
				})
			}
			_ = g.Wait()
			failed := 0
			for i, err := range errs {
				if err != nil {
					failed++
					continue
				}
				d, err := imgs[i].Digest()
				if err != nil {
					t.Fatal(err)
				}
				checkImage(t, reg.Repo(t, repos[i]), d)
			}
			if want := map[bool]int{false: 0, true: 1}[tc.fail]; failed != want {
				t.Fatalf("%d pushes failed (%v), want %d", failed, errs, want)
			}
			if tc.fail {
				return
			}
			for _, l := range baseLayers {
				uploads, mounts := 0, 0
				for _, q := range reg.Requests() {
					switch {
					case q.Method == http.MethodPut && q.Kind == registrytest.KindUpload && q.Query.Get("digest") == l:
						uploads++
					case q.Method == http.MethodPost && q.Kind == registrytest.KindUpload && q.Query.Get("mount") == l:
						mounts++
					}
				}
				if uploads != 1 || mounts != len(repos)-1 {
					t.Errorf("base layer %s: %d uploads and %d mounts, want 1 upload and %d mounts", l[:19], uploads, mounts, len(repos)-1)
				}
			}
		})
	}
}

// TestSendLayersAhead: layers sent ahead of their image are not sent
// again by its push, which counts them as its own; no manifest is written
// until the push.
func TestSendLayersAhead(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	img := ociImage(t, 3)
	_, layers, _ := layerFacts(t, img)
	c := Client{Keychain: registrytest.Anonymous, uploads: &uploads{}}
	s := open(t, reg.Repo(t, "a"), c)
	ctx := context.Background()
	if err := s.SendLayers(ctx, img); err != nil {
		t.Fatalf("SendLayers: %v", err)
	}
	if n := reg.Count(registrytest.KindManifestDigest) + reg.Count(registrytest.KindManifestTag); n != 0 {
		t.Errorf("SendLayers wrote %d manifests, want none", n)
	}
	stats, err := s.Push(ctx, img)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, reg.Repo(t, "a"), d)
	var size int64
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		n, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		size += n
	}
	if stats.Uploaded != len(layers) || stats.Existing != 0 || stats.UploadedBytes != size {
		t.Errorf("Push after SendLayers: %+v; want the %d layers (%d bytes) counted as uploaded", stats, len(layers), size)
	}
	for _, l := range layers {
		puts := 0
		for _, q := range reg.Requests() {
			if q.Method == http.MethodPut && q.Kind == registrytest.KindUpload && q.Query.Get("digest") == l {
				puts++
			}
		}
		if puts != 1 {
			t.Errorf("layer %s was uploaded %d times, want once", l[:19], puts)
		}
	}
	// A second push of the image counts nothing as its own.
	if stats, err = s.Push(ctx, img); err != nil || stats.Uploaded != 0 {
		t.Errorf("a second Push = %+v, %v; want nothing uploaded", stats, err)
	}
}
