package pipeline

import (
	"context"
	"io"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
	"github.com/buildercli/builder/internal/release"
)

// TestPushWaitsForItsSendAhead: a service's push starts only once what
// was sent ahead of it is sent: a push that asked for a blob while the
// send-ahead was sending it would get that send's error, not send it
// again. The push then completes.
func TestPushWaitsForItsSendAhead(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	repo := reg.Repo(t, "team/app")
	l, err := random.Layer(4096, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(
		mustRandom(t), types.OCIConfigJSON), types.OCIManifestSchema1), registrytest.Gated(l, gate))
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	b := build.Result{Artifact: img, Image: img, Digest: d, Images: []build.PlatformImage{{Image: img, Digest: d}}}
	c := registry.New(nil)
	c.Keychain = registrytest.Anonymous
	s, err := c.Open(repo)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := release.Parse("v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{repo: repo, session: s, plan: release.NewPlan(rel, "", nil, nil),
		current: func() (release.Current, error) { return release.Current{}, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var undo push.Undo
	p, pctx := newPusher(ctx, []*target{tg}, []push.Multi{nil}, make([]Result, 1), &undo, build.Env{Log: io.Discard})
	p.send(pctx, 0, b)
	if err := p.start(pctx, 0, b); err != nil {
		t.Fatalf("start: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := reg.Count(registrytest.KindManifestRead) + reg.Count(registrytest.KindManifestDigest); n != 0 {
		t.Errorf("the push made %d manifest requests while its layer was still being sent ahead, want none", n)
	}
	close(gate)
	if err := p.wait(); err != nil {
		t.Fatalf("push: %v", err)
	}
	if n := reg.Count(registrytest.KindManifestDigest); n != 1 {
		t.Errorf("the push wrote %d manifests, want the image's", n)
	}
}

func mustRandom(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
