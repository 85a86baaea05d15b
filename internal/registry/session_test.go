package registry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/registrytest"
)

const testLayers = 3

// ociImage returns an OCI image of n random layers, different each call.
func ociImage(t *testing.T, n int) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for range n {
		l, err := random.Layer(2048, types.OCILayer)
		if err != nil {
			t.Fatalf("random.Layer: %v", err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatalf("AppendLayers: %v", err)
		}
	}
	return img
}

// layerFacts returns img's digest, its layers' digests and their total
// compressed size.
func layerFacts(t *testing.T, img v1.Image) (v1.Hash, []string, int64) {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatalf("Layers: %v", err)
	}
	var digests []string
	var size int64
	for _, l := range ls {
		ld, err := l.Digest()
		if err != nil {
			t.Fatalf("layer Digest: %v", err)
		}
		n, err := l.Size()
		if err != nil {
			t.Fatalf("layer Size: %v", err)
		}
		digests = append(digests, ld.String())
		size += n
	}
	sort.Strings(digests)
	return d, digests, size
}

// open starts a session with repo, anonymous unless r names a keychain.
func open(t *testing.T, repo name.Repository, c Client) *Session {
	t.Helper()
	if c.Keychain == nil {
		c.Keychain = registrytest.Anonymous
	}
	s, err := c.Open(repo)
	if err != nil {
		t.Fatalf("Open(%s): %v", repo, err)
	}
	return s
}

// push pushes img with a new session.
func push(t *testing.T, repo name.Repository, c Client, img v1.Image) Stats {
	t.Helper()
	stats, err := open(t, repo, c).Push(context.Background(), img)
	if err != nil {
		t.Fatalf("Push to %s: %v", repo, err)
	}
	return stats
}

// checkImage fetches repo@d and validates it, blobs included.
func checkImage(t *testing.T, repo name.Repository, d v1.Hash) {
	t.Helper()
	img, err := remote.Image(repo.Digest(d.String()), remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatalf("fetching %s@%s: %v", repo, d, err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validating %s@%s: %v", repo, d, err)
	}
}

// manifestPuts returns the kinds of the manifest PUTs seen, in order.
func manifestPuts(reg *registrytest.Registry) []string {
	var kinds []string
	for _, q := range reg.Requests() {
		if q.Kind == registrytest.KindManifestDigest || q.Kind == registrytest.KindManifestTag {
			kinds = append(kinds, q.Kind)
		}
	}
	return kinds
}

func TestSessionPush(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	repo := reg.Repo(t, "team/app")
	img := ociImage(t, testLayers)
	d, _, size := layerFacts(t, img)
	ctx := context.Background()

	s := open(t, repo, Client{})
	got, err := s.Push(ctx, img)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if diff := cmp.Diff(Stats{Layers: testLayers, Uploaded: testLayers, UploadedBytes: size}, got); diff != "" {
		t.Errorf("first push stats (-want +got):\n%s", diff)
	}
	checkImage(t, repo, d)
	if diff := cmp.Diff([]string{registrytest.KindManifestDigest}, manifestPuts(reg)); diff != "" {
		t.Errorf("manifest PUTs of a push (-want +got):\n%s", diff)
	}
	tags, err := s.Tags(ctx)
	if err != nil {
		t.Fatalf("Tags: %v", err)
	}
	if len(tags) != 0 {
		t.Errorf("Push wrote tags %v", tags)
	}

	for _, again := range []struct {
		name string
		s    *Session
	}{
		{"same session", s},
		{"new session", open(t, repo, Client{})},
	} {
		t.Run(again.name, func(t *testing.T) {
			reg.Reset()
			got, err := again.s.Push(ctx, img)
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			if diff := cmp.Diff(Stats{Layers: testLayers, Existing: testLayers}, got); diff != "" {
				t.Errorf("second push stats (-want +got):\n%s", diff)
			}
			if n := reg.Count(registrytest.KindUpload); n != 0 {
				t.Errorf("second push made %d blob upload requests, want 0", n)
			}
		})
	}
}

func TestSessionTagsAfterManifest(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	repo := reg.Repo(t, "app")
	img := ociImage(t, testLayers)
	d, _, _ := layerFacts(t, img)
	ctx := context.Background()
	s := open(t, repo, Client{})
	if _, err := s.Push(ctx, img); err != nil {
		t.Fatalf("Push: %v", err)
	}
	for _, tag := range []string{"v1.0.0", "latest"} {
		if err := s.Tag(ctx, img, tag); err != nil {
			t.Fatalf("Tag(%s): %v", tag, err)
		}
	}
	want := []string{registrytest.KindManifestDigest, registrytest.KindManifestTag, registrytest.KindManifestTag}
	if diff := cmp.Diff(want, manifestPuts(reg)); diff != "" {
		t.Errorf("manifest PUTs in order (-want +got):\n%s", diff)
	}
	tags, err := open(t, repo, Client{}).Tags(ctx)
	if err != nil {
		t.Fatalf("Tags: %v", err)
	}
	sort.Strings(tags)
	if diff := cmp.Diff([]string{"latest", "v1.0.0"}, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	got, ok, err := s.Resolve(ctx, "v1.0.0")
	if err != nil || !ok || got != d {
		t.Errorf("Resolve(v1.0.0) = %s, %v, %v; want %s, true, nil", got, ok, err, d)
	}
}

func TestSessionMissing(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	ctx := context.Background()
	s := open(t, reg.Repo(t, "nobody/here"), Client{})
	tags, err := s.Tags(ctx)
	if err != nil || len(tags) != 0 {
		t.Errorf("Tags of an unknown repository = %v, %v; want none, nil", tags, err)
	}
	if d, ok, err := s.Resolve(ctx, "v1.0.0"); err != nil || ok {
		t.Errorf("Resolve of a missing tag = %s, %v, %v; want false, nil", d, ok, err)
	}

	known := reg.Repo(t, "known")
	img := ociImage(t, 1)
	s = open(t, known, Client{})
	if _, err := s.Push(ctx, img); err != nil {
		t.Fatalf("Push: %v", err)
	}
	if err := s.Tag(ctx, img, "v1.0.0"); err != nil {
		t.Fatalf("Tag: %v", err)
	}
	if d, ok, err := s.Resolve(ctx, "v2.0.0"); err != nil || ok {
		t.Errorf("Resolve of a missing tag in a known repository = %s, %v, %v; want false, nil", d, ok, err)
	}
}

// unreadableLayer is a layer whose content cannot be read.
type unreadableLayer struct{ v1.Layer }

var errUnreadableLayer = errors.New("unreadable layer")

func (unreadableLayer) Compressed() (io.ReadCloser, error) { return nil, errUnreadableLayer }

func TestSessionPushFailureWritesNoManifest(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	l, err := random.Layer(256, types.OCILayer)
	if err != nil {
		t.Fatalf("random.Layer: %v", err)
	}
	img, err := mutate.AppendLayers(ociImage(t, 1), unreadableLayer{l})
	if err != nil {
		t.Fatalf("AppendLayers: %v", err)
	}
	_, err = open(t, reg.Repo(t, "app"), Client{}).Push(context.Background(), img)
	if !errors.Is(err, errUnreadableLayer) {
		t.Fatalf("Push = %v, want %v", err, errUnreadableLayer)
	}
	if puts := manifestPuts(reg); len(puts) != 0 {
		t.Errorf("a failed push wrote manifests: %v", puts)
	}
}

func TestSessionPushSurvivesDroppedUploads(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	reg.Inject(registrytest.Fault{Method: http.MethodPatch, Kind: registrytest.KindUpload, N: 2})
	repo := reg.Repo(t, "app")
	img := ociImage(t, testLayers)
	d, _, size := layerFacts(t, img)
	var heard recordedProgress
	got := push(t, repo, Client{Progress: &heard}, img)
	// Each byte counts once: a restarted upload's first attempt does not.
	if got.Uploaded != testLayers || got.UploadedBytes != size {
		t.Errorf("stats = %+v, want %d layers uploaded, %d bytes", got, testLayers, size)
	}
	if diff := cmp.Diff(layerSizes(t, img), heard.sent()); diff != "" {
		t.Errorf("bytes shown per layer (-want +got):\n%s", diff)
	}
	checkImage(t, repo, d)
	dropped := 0
	for _, q := range reg.Requests() {
		if q.Method == http.MethodPatch && !q.Served {
			dropped++
		}
	}
	if dropped != 2 {
		t.Errorf("%d PATCHes dropped, want 2: the fault did not apply", dropped)
	}
}

func TestSessionExplainsErrors(t *testing.T) {
	t.Parallel()
	guarded := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	guarded.RequireAuth("ci", "right")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	closed := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("closing the listener: %v", err)
	}
	for _, tc := range []struct {
		name   string
		repo   string
		auth   authn.Authenticator
		want   string
		wantIs error
	}{
		{"wrong password", guarded.Host + "/app", &authn.Basic{Username: "ci", Password: "wrong"}, "builder login " + guarded.Host, ErrAuth},
		{"no credentials", guarded.Host + "/app", authn.Anonymous, "401", ErrAuth},
		{"nothing listening", closed + "/app", authn.Anonymous, "cannot reach registry " + closed, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo, err := name.NewRepository(tc.repo)
			if err != nil {
				t.Fatalf("NewRepository: %v", err)
			}
			_, err = open(t, repo, Client{Keychain: registrytest.Keychain{Auth: tc.auth}}).Tags(context.Background())
			if err == nil {
				t.Fatalf("Tags succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.ContainsAny(msg, "\n\r") {
				t.Errorf("Tags error = %q, want one line mentioning %q", msg, tc.want)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Tags error = %q does not wrap %v", msg, tc.wantIs)
			}
		})
	}
}

// recordedProgress hears a push as the display does: the bytes sent of
// each layer, which start again from zero when its upload restarts.
type recordedProgress struct {
	mu     sync.Mutex
	layers map[v1.Hash]*recordedLayer
}

type recordedLayer struct {
	p     *recordedProgress
	bytes int64
	state string
}

func (r *recordedProgress) Layer(d v1.Hash, _ int64) LayerProgress {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.layers == nil {
		r.layers = map[v1.Hash]*recordedLayer{}
	}
	l := &recordedLayer{p: r}
	r.layers[d] = l
	return l
}

func (l *recordedLayer) Sent(n int64) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	l.bytes += n
}

func (l *recordedLayer) Restart() {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	l.bytes = 0
}

func (l *recordedLayer) Done(state string) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	l.state = state
}

// sent returns the bytes shown for each layer uploaded.
func (r *recordedProgress) sent() map[v1.Hash]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[v1.Hash]int64{}
	for d, l := range r.layers {
		if l.state == "uploaded" {
			out[d] = l.bytes
		}
	}
	return out
}

// layerSizes returns the compressed size of each layer of img.
func layerSizes(t *testing.T, img v1.Image) map[v1.Hash]int64 {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatalf("Layers: %v", err)
	}
	out := map[v1.Hash]int64{}
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatalf("Digest: %v", err)
		}
		n, err := l.Size()
		if err != nil {
			t.Fatalf("Size: %v", err)
		}
		out[d] = n
	}
	return out
}
