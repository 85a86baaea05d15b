package publish

import (
	"context"
	"fmt"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/tags"
)

// publish pushes the image and its records side by side, then, once both
// are there, writes the tags that do not already point at it (cur).
func (t target) publish(ctx context.Context, built build.Result, o Options, cur map[string]v1.Hash) (Result, error) {
	var stats push.Stats
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { stats, err = t.session.Push(gctx, built.Artifact); return err })
	g.Go(func() error { return attach(gctx, t.session, built, t.repo, o.Build) })
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	o.Build.Trace.Mark("push image and records")
	res, err := describe(built, t.repo, stats)
	if err != nil {
		return Result{}, err
	}
	res.Moved, res.Left = t.decide(o.ExtraTags)
	if err := tagAll(ctx, t.session, built.Artifact, res.Moved, cur); err != nil {
		return Result{}, err
	}
	o.Build.Trace.Mark("tags")
	return res, nil
}

// decide lists the tags to write — the version, git-<commit> for a clean
// tree, the extra tags, and the floating tags that move — and those left.
func (t target) decide(extra []string) (moved []string, left []LeftTag) {
	moved = []string{t.release.Tag}
	if !t.git.Dirty && t.git.ShortCommit != "" {
		moved = append(moved, tags.Git(t.git.ShortCommit))
	}
	moved = append(moved, extra...)
	for _, d := range t.release.Decide(t.existing) {
		if d.Move {
			moved = append(moved, d.Tag)
		} else {
			left = append(left, LeftTag{Tag: d.Tag, Newer: d.Newer})
		}
	}
	return moved, left
}

// lookup starts looking up what the tags a publish may write point at now;
// the returned function waits for the answer.
func (t target) lookup(ctx context.Context, extra []string) func() (map[string]v1.Hash, error) {
	moved, _ := t.decide(extra)
	var cur map[string]v1.Hash
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		cur, err = resolveAll(ctx, t.session, moved, t.existing)
	}()
	return func() (map[string]v1.Hash, error) {
		<-done
		return cur, err
	}
}

// resolveAll looks up, in parallel, the digest each of names points at,
// for those the repository has (existing); publish runs it while it builds.
func resolveAll(ctx context.Context, s *push.Session, names, existing []string) (map[string]v1.Hash, error) {
	there := map[string]bool{}
	for _, t := range existing {
		there[t] = true
	}
	var mu sync.Mutex
	cur := map[string]v1.Hash{}
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

// tagAll points the tags at a, in parallel (the image is complete by now,
// so their order does not matter), skipping those that already do (cur).
func tagAll(ctx context.Context, s *push.Session, a push.Artifact, names []string, cur map[string]v1.Hash) error {
	d, err := a.Digest()
	if err != nil {
		return fmt.Errorf("computing the image digest: %w", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, t := range names {
		if cur[t] == d {
			continue
		}
		g.Go(func() error { return s.Tag(ctx, a, t) })
	}
	return g.Wait()
}

// checkImmutable refuses to repoint an existing version tag at other content.
func checkImmutable(tag string, cur map[string]v1.Hash, d v1.Hash) error {
	if had, ok := cur[tag]; ok && had != d {
		return fmt.Errorf("%s already points at %s, another image: a released version is not overwritten; publish a new version", tag, had)
	}
	return nil
}
