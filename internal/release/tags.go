package release

import (
	"context"
	"fmt"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/registry"
)

// Plan is what publishing a release writes: the tags that move to it, and
// the floating tags left where they are.
type Plan struct {
	// Version is the release's own tag.
	Version string
	// Moved lists the tags to write: the version, git-<commit> for a clean
	// tree, the extra tags, and the floating tags that move.
	Moved []string
	// Left lists the floating tags that a newer release holds.
	Left []Left
}

// Left is a floating tag left where it was, because a newer release holds it.
type Left struct {
	Tag   string `json:"tag"`
	Newer string `json:"held_by"`
}

// NewPlan decides the tags of r, given the tags the repository has
// (existing). commit is the short commit of a clean tree, "" for none.
func NewPlan(r Release, commit string, extra, existing []string) Plan {
	p := Plan{Version: r.Tag, Moved: []string{r.Tag}}
	if commit != "" {
		p.Moved = append(p.Moved, Git(commit))
	}
	p.Moved = append(p.Moved, extra...)
	for _, d := range r.Decide(existing) {
		if d.Move {
			p.Moved = append(p.Moved, d.Tag)
		} else {
			p.Left = append(p.Left, Left{Tag: d.Tag, Newer: d.Newer})
		}
	}
	return p
}

// Current maps the tags a plan may write to what they point at now.
type Current map[string]v1.Hash

// Lookup starts looking up, in parallel, what the plan's tags point at now,
// for those the repository has (existing); the returned function waits for
// the answer. Publish runs it while the image builds.
func (p Plan) Lookup(ctx context.Context, s *registry.Session, existing []string) func() (Current, error) {
	var cur Current
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		cur, err = resolveAll(ctx, s, p.Moved, existing)
	}()
	return func() (Current, error) {
		<-done
		return cur, err
	}
}

func resolveAll(ctx context.Context, s *registry.Session, names, existing []string) (Current, error) {
	there := map[string]bool{}
	for _, t := range existing {
		there[t] = true
	}
	var mu sync.Mutex
	cur := Current{}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, t := range names {
		if !there[t] {
			continue
		}
		g.Go(func() error {
			d, ok, err := s.Resolve(ctx, t)
			if err != nil || !ok {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			cur[t] = d
			return nil
		})
	}
	return cur, g.Wait()
}

// CheckImmutable refuses to repoint the version's tag, when it exists, at
// other content than d.
func (p Plan) CheckImmutable(cur Current, d v1.Hash) error {
	if had, ok := cur[p.Version]; ok && had != d {
		return fmt.Errorf("%s already points at %s, another image: a released version is not overwritten; publish a new version", p.Version, had)
	}
	return nil
}

// Write points the plan's tags at a, whose blobs and manifests are pushed,
// in parallel (the image is complete, so their order does not matter),
// skipping those that already point at it (cur).
func (p Plan) Write(ctx context.Context, s *registry.Session, a registry.Artifact, cur Current) error {
	d, err := a.Digest()
	if err != nil {
		return fmt.Errorf("computing the image digest: %w", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, t := range p.Moved {
		if cur[t] == d {
			continue
		}
		g.Go(func() error { return s.Tag(ctx, a, t) })
	}
	return g.Wait()
}
