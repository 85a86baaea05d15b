package release

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/registrytest"
)

// publish pushes a new image as version, with the tags NewPlan decides from
// existing (which may be stale), then settles; it returns the image digest.
func publish(t *testing.T, s *registry.Session, version string, existing []string, settle bool) v1.Hash {
	t.Helper()
	ctx := context.Background()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Push(ctx, img); err != nil {
		t.Fatal(err)
	}
	r, err := Parse(version)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPlan(r, "", nil, existing)
	if _, err := p.Write(ctx, s, img, Current{}); err != nil {
		t.Fatal(err)
	}
	if settle {
		if _, err := p.Settle(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func tagMap(t *testing.T, s *registry.Session, tags ...string) map[string]v1.Hash {
	t.Helper()
	out := map[string]v1.Hash{}
	for _, tag := range tags {
		d, ok, err := s.Resolve(context.Background(), tag)
		if err != nil || !ok {
			t.Fatalf("resolving %s: %v (found %v)", tag, err, ok)
		}
		out[tag] = d
	}
	return out
}

// TestSettleRepairsAStaleDecision: a publish of v1.2.0 that listed the
// tags before v1.3.0 was published moves latest and v1 backwards when it
// writes; settling moves them back to v1.3.0.
func TestSettleRepairsAStaleDecision(t *testing.T) {
	for _, settle := range []bool{false, true} {
		reg := registrytest.New(t, registrytest.Config{})
		s, err := (registry.Client{Keychain: registrytest.Anonymous}).Open(reg.Repo(t, "app"))
		if err != nil {
			t.Fatal(err)
		}
		before := []string{"v1.1.0"}
		old := publish(t, s, "v1.1.0", nil, true)
		newer := publish(t, s, "v1.3.0", before, true)
		stale := publish(t, s, "v1.2.0", before, settle) // decided before v1.3.0 existed
		got := tagMap(t, s, "latest", "v1", "v1.3", "v1.2", "v1.1")
		want := map[string]v1.Hash{"latest": newer, "v1": newer, "v1.3": newer, "v1.2": stale, "v1.1": old}
		if settle {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after settling (-want +got):\n%s", diff)
			}
		} else if got["latest"] != stale {
			t.Fatalf("the stale publish did not move latest backwards: the test shows nothing")
		}
	}
}
