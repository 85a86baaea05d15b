package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/release"
	"github.com/buildercli/builder/internal/source"
)

// PublishOptions are what the user asked a publish for.
type PublishOptions struct {
	// Options describe the image, and the local files also written;
	// Build.Tag is the SemVer version to publish.
	Options
	// Repo is the repository to publish to, e.g. ghcr.io/acme/app.
	Repo string
	// ExtraTags are published as given, besides the version's tags.
	ExtraTags []string
	// AllowDirty publishes from a tree with uncommitted changes; the
	// git-<commit> tag is then not written, as it would name other content.
	AllowDirty bool
	// ImageRefs, when set, is a file that gets every reference published,
	// one a line: REPO@DIGEST, then REPO:TAG@DIGEST for each tag written.
	ImageRefs string
}

// ErrDirty is returned for a tree with uncommitted changes without AllowDirty.
var ErrDirty = errors.New("the working tree has uncommitted changes")

// Result says what a publish did.
type Result struct {
	Repository string         `json:"repository"`
	Digest     v1.Hash        `json:"digest"`
	Version    string         `json:"version"`
	Moved      []string       `json:"tags_moved"`
	Left       []release.Left `json:"tags_left"`
	// Written says which tags were written when writing them failed
	// part way; nil before tags are written.
	Written *release.Written `json:"tags_written,omitempty"`
	// Settled lists the floating tags moved after writing to the highest
	// release, because another publish ran at the same time.
	Settled   []release.Left `json:"tags_settled,omitempty"`
	Sizes     Sizes          `json:"sizes"`
	Platforms []string       `json:"platforms"`
	// References are every reference published: REPO@DIGEST, then
	// REPO:TAG@DIGEST for each tag written.
	References []string       `json:"references"`
	Push       registry.Stats `json:"-"`
	Ref        name.Digest    `json:"-"`
}

// Publish validates everything it can before building, checks the
// checkout and the registry, builds, pushes the image and its records, and
// only then writes the release's tags. env.Registry reaches the registry.
func Publish(ctx context.Context, o PublishOptions, env build.Env) (Result, error) {
	env.Trace.Mark("start")
	rel, repo, err := o.check(env.Registry)
	if err != nil {
		return Result{}, err
	}
	src, err := source.Read(ctx, o.Path, env.KoConfig)
	if err != nil {
		return Result{}, err
	}
	env.Trace.Mark("git")
	if src.Git.Dirty && !o.AllowDirty {
		return Result{}, fmt.Errorf("%w: commit them, or pass --allow-dirty to publish anyway (without a git-<commit> tag)", ErrDirty)
	}
	env, done, err := withScratch(env)
	if err != nil {
		return Result{}, err
	}
	defer done()
	session, err := env.Registry.Open(repo)
	if err != nil {
		return Result{}, err
	}
	existing, err := session.Tags(ctx)
	if err != nil {
		return Result{}, err
	}
	env.Trace.Mark("list tags")
	commit := ""
	if !src.Git.Dirty {
		commit = src.Git.ShortCommit
	}
	plan := release.NewPlan(rel, commit, o.ExtraTags, existing)
	current := plan.Lookup(ctx, session, existing) // while the image builds

	o.Build.Repo = o.Repo
	o.Build.SBOM, o.Build.Provenance = o.SBOM != None, o.Provenance != None
	built, err := buildImage(ctx, src, o.Options, env)
	if err != nil {
		return Result{}, err
	}
	cur, err := current()
	if err != nil {
		return Result{}, err
	}
	if err := plan.CheckImmutable(cur, built.Digest); err != nil {
		return Result{}, err
	}
	env.Trace.Mark("resolve tags")
	// The local outputs are put back as they were if anything fails from
	// here on, the push and the tags included.
	local := o.destinations()
	var undo push.Undo
	if err := undo.Remember(local, built); err != nil {
		return Result{}, err
	}
	res, err := deliver(ctx, built, repo, session, append(local, nil), plan, cur, env)
	res.References = res.references()
	if err == nil && o.ImageRefs != "" {
		err = atomicfile.WriteFile(o.ImageRefs, []byte(strings.Join(res.References, "\n")+"\n"))
	}
	if err != nil {
		if rerr := undo.Restore(); rerr != nil {
			fmt.Fprintf(env.Log, "note: %v\n", rerr)
		}
		return res, err
	}
	undo.Forget()
	return res, nil
}

// references lists every reference the publish wrote: REPO@DIGEST, then
// REPO:TAG@DIGEST for each tag that points at the image.
func (r Result) references() []string {
	if r.Repository == "" {
		return nil
	}
	refs := []string{r.Repository + "@" + r.Digest.String()}
	tags := r.Moved
	if r.Written != nil && len(r.Written.Failed) > 0 {
		tags = r.Written.Written
	}
	for _, t := range tags {
		refs = append(refs, r.Repository+":"+t+"@"+r.Digest.String())
	}
	return refs
}

// deliver writes the local outputs (dests, whose last is replaced by the
// registry push), pushes the image and its records, and writes and settles
// the plan's tags.
func deliver(ctx context.Context, built build.Result, repo name.Repository, session *registry.Session, dests push.Multi,
	plan release.Plan, cur release.Current, env build.Env) (Result, error) {
	to := &push.Registry{Session: session}
	dests[len(dests)-1] = to
	if err := dests.Deliver(ctx, built, env.Log); err != nil {
		return Result{}, err
	}
	env.Trace.Mark("push image and records")
	res, err := describe(built, repo, to.Stats)
	if err != nil {
		return Result{}, err
	}
	res.Moved, res.Left = plan.Moved, plan.Left
	written, err := plan.Write(ctx, session, built.Artifact, cur)
	res.Written = &written
	if err != nil {
		return res, err
	}
	env.Trace.Mark("tags")
	settled, err := plan.Settle(ctx, session)
	if err != nil {
		return res, fmt.Errorf("checking the floating tags after writing them: %w", err)
	}
	for _, l := range settled {
		res.Settled = append(res.Settled, l)
		res.Moved = slices.DeleteFunc(res.Moved, func(t string) bool { return t == l.Tag })
		res.Left = slices.DeleteFunc(res.Left, func(m release.Left) bool { return m.Tag == l.Tag })
		if l.Newer == plan.Version {
			res.Moved = append(res.Moved, l.Tag) // moved back to this release
		} else {
			res.Left = append(res.Left, l)
		}
	}
	env.Trace.Mark("settle floating tags")
	return res, nil
}

// check validates the options, the version, the extra tags and the
// repository.
func (o PublishOptions) check(c registry.Client) (release.Release, name.Repository, error) {
	if o.Build.Tag == "" {
		return release.Release{}, name.Repository{}, fmt.Errorf("no version to publish: pass --tag vMAJOR.MINOR.PATCH, e.g. --tag v1.2.0")
	}
	rel, err := release.Parse(o.Build.Tag)
	if err != nil {
		return release.Release{}, name.Repository{}, err
	}
	for _, t := range o.ExtraTags {
		if err := registry.ValidateTag(t); err != nil {
			return release.Release{}, name.Repository{}, fmt.Errorf("--extra-tag: %w", err)
		}
		if err := rel.CheckExtra(t); err != nil {
			return release.Release{}, name.Repository{}, err
		}
	}
	if o.Repo == "" {
		return release.Release{}, name.Repository{}, fmt.Errorf("no repository to publish to: pass --repo REGISTRY/NAME or set BUILDER_REPO (or KO_DOCKER_REPO)")
	}
	repo, err := c.Repository(o.Repo)
	if err != nil {
		return release.Release{}, name.Repository{}, err
	}
	return rel, repo, o.validate([2]string{"--image-refs", o.ImageRefs})
}
