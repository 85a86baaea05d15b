package resolve

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/pipeline"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/registry"
)

// buildAll plans every image, each in a directory of its own under env's
// scratch directory, then builds them all, their binaries compiled
// together (see build.All) with the shared Go build cache when there is
// one.
func buildAll(ctx context.Context, images []*image, o Options, env build.Env, goCache *pipeline.GoCache) error {
	req := o.Build
	req.Repo, req.RepoIsParent = o.Repo, true
	labels := make([]string, len(images))
	for i, im := range images {
		labels[i] = fmt.Sprintf("%s: %s%s", im.where, Scheme, im.path)
	}
	plans, err := pipeline.PlanServices(ctx, sources(images), req, labels, env)
	if err != nil {
		return err
	}
	for i, pl := range plans {
		// REPO/NAME, NAME as the service's settings say.
		if images[i].repo, err = env.Registry.Repository(pl.Ref().Context().Name()); err != nil {
			return fmt.Errorf("%s: %w", labels[i], err)
		}
	}
	built, err := build.All(ctx, plans, goCache.Program(env), build.Handoff{})
	if err != nil {
		return err
	}
	for i, im := range images {
		im.built = built[i]
	}
	return nil
}

// pushAll pushes each built image and its records by digest, jobs at a
// time, writing no tag but the records' own fallback tag on a registry
// without the referrers API.
func pushAll(ctx context.Context, images []*image, jobs int, env build.Env) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, im := range images {
		g.Go(func() error {
			if err := pushByDigest(gctx, im.built, im.repo, env.Registry); err != nil {
				return fmt.Errorf("%s: %s%s: %w", im.where, Scheme, im.path, err)
			}
			im.ref = im.repo.Digest(im.built.Digest.String())
			fmt.Fprintf(env.Log, "pushed %s for %s%s\n", im.ref, Scheme, im.path)
			return nil
		})
	}
	return g.Wait()
}

// pushByDigest pushes b's image or index and its records to repo, as
// publish does before its tags, and writes no tag.
func pushByDigest(ctx context.Context, b build.Result, repo name.Repository, c registry.Client) error {
	s, err := c.Open(repo)
	if err != nil {
		return err
	}
	return (&push.Registry{Session: s}).Deliver(ctx, b, io.Discard)
}
