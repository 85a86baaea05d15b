// Package publish builds an image and releases it to a registry: blobs, then
// the manifest by digest, then the version's tags, floating tags never moved
// backwards.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/tags"
	"github.com/buildercli/builder/internal/vcs"
)

// Options are the settings of one publish.
type Options struct {
	// Build describes the image; Build.Tag is the SemVer version to publish.
	Build build.Options
	// Repo is the repository to publish to, e.g. ghcr.io/acme/app.
	Repo string
	// ExtraTags are published as given, besides the version's tags.
	ExtraTags []string
	// AllowDirty publishes from a tree with uncommitted changes; the
	// git-<commit> tag is then not written, as it would name other content.
	AllowDirty bool
	// Insecure lists registries (host[:port]) that may be reached over
	// plain HTTP although they are not on loopback.
	Insecure []string
	// Remote reaches the registry; its Transport is built from Insecure
	// when nil.
	Remote push.Remote
}

// ErrDirty is returned for a tree with uncommitted changes without AllowDirty.
var ErrDirty = errors.New("the working tree has uncommitted changes")

// Result says what a publish did.
type Result struct {
	Repository string      `json:"repository"`
	Digest     v1.Hash     `json:"digest"`
	Version    string      `json:"version"`
	Moved      []string    `json:"tags_moved"`
	Left       []LeftTag   `json:"tags_left"`
	Sizes      Sizes       `json:"sizes"`
	Platforms  []string    `json:"platforms"`
	Push       push.Stats  `json:"-"`
	Ref        name.Digest `json:"-"`
}

// LeftTag is a floating tag left where it was, because a newer release holds it.
type LeftTag struct {
	Tag   string `json:"tag"`
	Newer string `json:"held_by"`
}

// Sizes are in bytes.
type Sizes struct {
	Compressed   int64 `json:"compressed"`
	Uncompressed int64 `json:"uncompressed"`
	Uploaded     int64 `json:"uploaded_layer_bytes"`
}

// Run validates everything it can before building, builds, checks the
// registry, pushes, and tags. Notes go to log.
func Run(ctx context.Context, o Options, log io.Writer) (Result, error) {
	t, err := prepare(ctx, &o)
	if err != nil {
		return Result{}, err
	}
	work, err := os.MkdirTemp("", "builder-")
	if err != nil {
		return Result{}, fmt.Errorf("making a build directory: %w", err)
	}
	defer os.RemoveAll(work)
	current := t.lookup(ctx, o.ExtraTags) // while the image builds
	built, err := build.Image(ctx, o.Build, work, log)
	if err != nil {
		return Result{}, err
	}
	cur, err := current()
	if err != nil {
		return Result{}, err
	}
	if err := checkImmutable(t.release.Tag, cur, built.Digest); err != nil {
		return Result{}, err
	}
	o.Build.Trace.Mark("resolve tags")
	if err := build.Write(built, o.Build, log); err != nil {
		return Result{}, err
	}
	return t.publish(ctx, built, o, cur)
}

// target is what a publish settled before building: the version, the
// repository and what it already holds, and the checkout.
type target struct {
	release  tags.Release
	repo     name.Repository
	git      vcs.Info
	session  *push.Session
	existing []string
}

// prepare checks the options and the checkout, opens the registry and lists
// its tags, so that a bad tag, a dirty tree, or a registry that cannot be
// reached stop the publish before anything is compiled or pushed.
func prepare(ctx context.Context, o *Options) (target, error) {
	o.Build.Trace.Mark("start")
	var t target
	var err error
	if t.release, t.repo, err = o.check(); err != nil {
		return target{}, err
	}
	if t.git, err = build.ReadGit(ctx, o.Build); err != nil {
		return target{}, err
	}
	o.Build.Trace.Mark("git")
	if t.git.Dirty && !o.AllowDirty {
		return target{}, fmt.Errorf("%w: commit them, or pass --allow-dirty to publish anyway (without a git-<commit> tag)", ErrDirty)
	}
	o.Build.Git, o.Build.Repo, o.Build.Insecure = &t.git, o.Repo, o.Insecure
	if o.Remote.Transport == nil {
		o.Remote.Transport = push.NewTransport(nil, o.Insecure)
	}
	o.Build.Registry = push.Remote{Keychain: o.Remote.Keychain, Transport: o.Remote.Transport}
	if t.session, err = push.Open(t.repo, o.Remote); err != nil {
		return target{}, err
	}
	if t.existing, err = t.session.Tags(ctx); err != nil {
		return target{}, err
	}
	o.Build.Trace.Mark("list tags")
	return t, nil
}

// check validates the version, the extra tags and the repository.
func (o Options) check() (tags.Release, name.Repository, error) {
	if o.Build.Tag == "" {
		return tags.Release{}, name.Repository{}, fmt.Errorf("no version to publish: pass --tag vMAJOR.MINOR.PATCH, e.g. --tag v1.2.0")
	}
	rel, err := tags.Parse(o.Build.Tag)
	if err != nil {
		return tags.Release{}, name.Repository{}, err
	}
	for _, t := range o.ExtraTags {
		if err := tags.Validate(t); err != nil {
			return tags.Release{}, name.Repository{}, fmt.Errorf("--extra-tag: %w", err)
		}
	}
	if o.Repo == "" {
		return tags.Release{}, name.Repository{}, fmt.Errorf("no repository to publish to: pass --repo REGISTRY/NAME or set BUILDER_REPO (or KO_DOCKER_REPO)")
	}
	repo, err := name.NewRepository(o.Repo, name.StrictValidation)
	if err == nil {
		repo, err = name.NewRepository(o.Repo, append(push.InsecureOption(repo.RegistryStr(), o.Insecure), name.StrictValidation)...)
	}
	if err != nil {
		return tags.Release{}, name.Repository{}, fmt.Errorf("repository %q is not a valid image name: use lowercase REGISTRY/PATH, e.g. ghcr.io/acme/app", o.Repo)
	}
	return rel, repo, nil
}
