package registry

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/registrytest"
)

// TestPushesShareUploads: images that share a base, pushed at once to
// repositories of one registry by one run, send each base layer once; the
// other pushes mount it, with no record of mounts on disk to go by. When
// the first upload of a base layer fails, its push fails, one of the
// others sends the layer again, and the rest mount it from there, without
// hanging.
func TestPushesShareUploads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fail bool // the first upload of a base layer fails (ggcr does not retry a 400)
	}{
		{name: "shared"},
		{name: "the first upload of a base layer fails", fail: true},
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
				reg.Inject(registrytest.Fault{Method: http.MethodPut, Kind: registrytest.KindUpload, Digest: baseLayers[0], N: 1, Status: http.StatusBadRequest})
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
			// Each base layer is sent once; the faulted one twice, the
			// second time by one of the pushes that waited for the first.
			// The pushes of the failed one's other base layers may stop
			// half-way: only the faulted layer's count is sure then.
			for i, l := range baseLayers {
				if tc.fail && i > 0 {
					break
				}
				uploads, mounts := 0, 0
				for _, q := range reg.Requests() {
					switch {
					case q.Method == http.MethodPut && q.Kind == registrytest.KindUpload && q.Query.Get("digest") == l:
						uploads++
					case q.Method == http.MethodPost && q.Kind == registrytest.KindUpload && q.Query.Get("mount") == l:
						mounts++
					}
				}
				wantUploads, wantMounts := 1, len(repos)-1
				if tc.fail {
					wantUploads, wantMounts = 2, len(repos)-2
				}
				if uploads != wantUploads || mounts != wantMounts {
					t.Errorf("base layer %s: %d uploads and %d mounts, want %d uploads and %d mounts", l[:19], uploads, mounts, wantUploads, wantMounts)
				}
			}
		})
	}
}

// TestSendLayersAhead: layers sent ahead of their image are not sent
// again by its push, which counts them as its own, uploaded or mounted,
// even when it starts while they are still being sent; no manifest is
// written until the push.
func TestSendLayersAhead(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	base := ociImage(t, 2)
	_, baseLayers, _ := layerFacts(t, base)
	own := func() v1.Layer {
		l, err := random.Layer(4096, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	gate := make(chan struct{})
	imgA, err := mutate.AppendLayers(base, registrytest.Gated(own(), gate))
	if err != nil {
		t.Fatal(err)
	}
	imgB, err := mutate.AppendLayers(base, own())
	if err != nil {
		t.Fatal(err)
	}
	c := Client{Keychain: registrytest.Anonymous, uploads: &uploads{}}
	a, b := open(t, reg.Repo(t, "a"), c), open(t, reg.Repo(t, "b"), c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A's own layer is held; its push starts while it is being sent.
	sentA := make(chan error, 1)
	go func() { sentA <- a.SendLayers(ctx, imgA) }()
	if err := b.SendLayers(ctx, imgB); err != nil {
		t.Fatalf("SendLayers of B: %v", err)
	}
	if n := reg.Count(registrytest.KindManifestDigest) + reg.Count(registrytest.KindManifestTag); n != 0 {
		t.Errorf("SendLayers wrote %d manifests, want none", n)
	}
	pushedA := make(chan error, 1)
	var statsA Stats
	go func() {
		var err error
		statsA, err = a.Push(ctx, imgA)
		pushedA <- err
	}()
	time.Sleep(100 * time.Millisecond) // A's push waits for its layer
	close(gate)
	if err := <-sentA; err != nil {
		t.Fatalf("SendLayers of A: %v", err)
	}
	if err := <-pushedA; err != nil {
		t.Fatalf("Push of A: %v", err)
	}
	statsB, err := b.Push(ctx, imgB)
	if err != nil {
		t.Fatalf("Push of B: %v", err)
	}
	// Each image counts its own layer as uploaded, and the base layers
	// as uploaded by one, mounted from it by the other.
	for _, tc := range []struct {
		name  string
		img   v1.Image
		repo  string
		stats Stats
	}{{"A", imgA, "a", statsA}, {"B", imgB, "b", statsB}} {
		d, err := tc.img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, reg.Repo(t, tc.repo), d)
		if st := tc.stats; st.Layers != 3 || st.Existing != 0 || st.Uploaded < 1 || st.Uploaded+st.Mounted != 3 || st.UploadedBytes == 0 {
			t.Errorf("push of %s after its layers were sent: %+v; want its 3 layers counted as uploaded or mounted", tc.name, st)
		}
	}
	if up, mounted := statsA.Uploaded+statsB.Uploaded, statsA.Mounted+statsB.Mounted; up != 4 || mounted != 2 {
		t.Errorf("the two pushes counted %d uploads and %d mounts, want 4 and 2", up, mounted)
	}
	for _, l := range baseLayers {
		puts := 0
		for _, q := range reg.Requests() {
			if q.Method == http.MethodPut && q.Kind == registrytest.KindUpload && q.Query.Get("digest") == l {
				puts++
			}
		}
		if puts != 1 {
			t.Errorf("base layer %s was uploaded %d times, want once", l[:19], puts)
		}
	}
	// A second push counts nothing as its own.
	if stats, err := a.Push(ctx, imgA); err != nil || stats.Uploaded != 0 {
		t.Errorf("a second Push = %+v, %v; want nothing uploaded", stats, err)
	}
}

// TestClaimWaitsForSendAhead: an image's push that asks for a layer while
// its push ahead is under way (a mount, say, whose blob the registry may
// already hold) waits for it and counts what it did, once; a push ahead
// that failed, or sent nothing of its own, leaves nothing to claim; a
// second push ahead of the same layer to the same repository sends
// nothing.
func TestClaimWaitsForSendAhead(t *testing.T) {
	t.Parallel()
	repo, err := name.NewRepository("registry.example/a")
	if err != nil {
		t.Fatal(err)
	}
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}
	ctx := context.Background()
	u := &uploads{}

	p := u.startAhead(repo, d)
	if p == nil {
		t.Fatal("startAhead of a new layer = nil, want its push")
	}
	if again := u.startAhead(repo, d); again != nil {
		t.Error("a second startAhead of the same layer and repository = its push, want nil")
	}
	type claimed struct {
		r   layerResult
		ok  bool
		err error
	}
	got := make(chan claimed, 1)
	go func() {
		r, ok, err := u.claim(ctx, repo, d)
		got <- claimed{r, ok, err}
	}()
	select {
	case c := <-got:
		t.Fatalf("claim returned %+v while the push ahead was under way, want it to wait", c)
	case <-time.After(50 * time.Millisecond):
	}
	want := layerResult{how: "mounted", state: "mounted from b"}
	u.endAhead(p, repo, d, want, true)
	if c := <-got; c.err != nil || !c.ok || c.r != want {
		t.Errorf("claim after the push ahead = %+v, want %+v", c, want)
	}
	if _, ok, _ := u.claim(ctx, repo, d); ok {
		t.Error("a second claim found the push ahead again, want it claimed once")
	}

	// A failed push ahead: nothing to claim, and the layer can be sent
	// ahead again.
	other, err := name.NewRepository("registry.example/b")
	if err != nil {
		t.Fatal(err)
	}
	p = u.startAhead(other, d)
	u.endAhead(p, other, d, layerResult{}, false)
	if _, ok, err := u.claim(ctx, other, d); ok || err != nil {
		t.Errorf("claim after a failed push ahead = %v, %v; want nothing", ok, err)
	}
	if u.startAhead(other, d) == nil {
		t.Error("startAhead after a failed push ahead = nil, want a new push")
	}

	// A claim stops waiting when its context ends.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok, err := u.claim(cctx, other, d); ok || err == nil {
		t.Errorf("claim with an ended context while a push ahead is under way = %v, %v; want its error", ok, err)
	}
}
