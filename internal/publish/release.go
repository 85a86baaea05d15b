package publish

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/tags"
)

// publish pushes the image and its records side by side, then, once both
// are there, writes the tags.
func (t target) publish(ctx context.Context, built build.Result, o Options) (Result, error) {
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
	if err := tagAll(ctx, t.session, built.Artifact, res.Moved, t.existing); err != nil {
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

// tagAll points the tags at a, in parallel (the image is complete by now,
// so their order does not matter), skipping those that already do; only
// tags in existing can.
func tagAll(ctx context.Context, s *push.Session, a push.Artifact, names, existing []string) error {
	there := map[string]bool{}
	for _, t := range existing {
		there[t] = true
	}
	d, err := a.Digest()
	if err != nil {
		return fmt.Errorf("computing the image digest: %w", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, t := range names {
		g.Go(func() error {
			if there[t] {
				if cur, ok, err := s.Resolve(ctx, t); err == nil && ok && cur == d {
					return nil
				}
			}
			return s.Tag(ctx, a, t)
		})
	}
	return g.Wait()
}

// checkImmutable refuses to repoint an existing version tag at other content.
func checkImmutable(ctx context.Context, s *push.Session, tag string, d v1.Hash) error {
	cur, ok, err := s.Resolve(ctx, tag)
	if err != nil {
		return err
	}
	if ok && cur != d {
		return fmt.Errorf("%s already points at %s, another image: a released version is not overwritten; publish a new version", tag, cur)
	}
	return nil
}
