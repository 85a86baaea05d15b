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
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/attest"
	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/tags"
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
	o.Build.Trace.Mark("start")
	rel, repo, err := o.check()
	if err != nil {
		return Result{}, err
	}
	git, err := build.ReadGit(ctx, o.Build)
	if err != nil {
		return Result{}, err
	}
	o.Build.Trace.Mark("git")
	if git.Dirty && !o.AllowDirty {
		return Result{}, fmt.Errorf("%w: commit them, or pass --allow-dirty to publish anyway (without a git-<commit> tag)", ErrDirty)
	}
	o.Build.Git = &git
	o.Build.Repo = o.Repo
	o.Build.Insecure = o.Insecure

	if o.Remote.Transport == nil {
		o.Remote.Transport = push.NewTransport(nil, o.Insecure)
	}
	o.Build.Registry = push.Remote{Keychain: o.Remote.Keychain, Transport: o.Remote.Transport}
	s, err := push.Open(repo, o.Remote)
	if err != nil {
		return Result{}, err
	}
	existing, err := s.Tags(ctx)
	if err != nil {
		return Result{}, err
	}
	o.Build.Trace.Mark("list tags")

	work, err := os.MkdirTemp("", "builder-")
	if err != nil {
		return Result{}, fmt.Errorf("making a build directory: %w", err)
	}
	defer os.RemoveAll(work)
	built, err := build.Image(ctx, o.Build, work, log)
	if err != nil {
		return Result{}, err
	}
	if err := checkImmutable(ctx, s, rel.Tag, built.Digest); err != nil {
		return Result{}, err
	}
	o.Build.Trace.Mark("resolve version tag")
	if err := build.Write(built, o.Build, log); err != nil {
		return Result{}, err
	}
	// The image and its records go up side by side; tags only once both
	// are there.
	var stats push.Stats
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { stats, err = s.Push(gctx, built.Artifact); return err })
	g.Go(func() error { return attach(gctx, s, built, repo, o.Build) })
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	o.Build.Trace.Mark("push image and records")
	res, err := describe(built, repo, stats)
	if err != nil {
		return Result{}, err
	}
	exact := []string{rel.Tag}
	if !git.Dirty && git.ShortCommit != "" {
		exact = append(exact, tags.Git(git.ShortCommit))
	}
	exact = append(exact, o.ExtraTags...)
	res.Moved = exact
	for _, d := range rel.Decide(existing) {
		if d.Move {
			res.Moved = append(res.Moved, d.Tag)
		} else {
			res.Left = append(res.Left, LeftTag{Tag: d.Tag, Newer: d.Newer})
		}
	}
	if err := tagAll(ctx, s, built.Artifact, res.Moved, existing); err != nil {
		return Result{}, err
	}
	o.Build.Trace.Mark("tags")
	return res, nil
}

// attach pushes each image's SBOM and the provenance as OCI 1.1 referrers
// of what they describe, unless turned off with "none".
func attach(ctx context.Context, s *push.Session, b build.Result, repo name.Repository, o build.Options) error {
	wantSBOM, wantProv := o.SBOM != build.None, o.Provenance != build.None
	if !wantSBOM && !wantProv {
		return nil
	}
	recs, err := b.Records(repo.String(), wantSBOM, wantProv)
	if err != nil {
		return err
	}
	// Records of one subject go one after the other: without a referrers
	// API each updates the subject's fallback tag. Subjects go in parallel.
	bySubject := map[v1.Hash][]record{}
	var order []v1.Hash
	add := func(a partial.Describable, r record) error {
		d, err := partial.Descriptor(a)
		if err != nil {
			return fmt.Errorf("describing %s: %w", r.suffix, err)
		}
		r.subject = *d
		if _, ok := bySubject[d.Digest]; !ok {
			order = append(order, d.Digest)
		}
		bySubject[d.Digest] = append(bySubject[d.Digest], r)
		return nil
	}
	for i, doc := range recs.SBOMs {
		if err := add(b.Images[i].Image, record{mt: attest.SPDXMediaType, data: doc, suffix: ".sbom"}); err != nil {
			return err
		}
	}
	if wantProv {
		if err := add(b.Artifact, record{mt: attest.InTotoMediaType, data: recs.Provenance, suffix: ".att"}); err != nil {
			return err
		}
	}
	created := b.Created.UTC().Format(time.RFC3339)
	g, ctx := errgroup.WithContext(ctx)
	for _, d := range order {
		g.Go(func() error {
			for _, r := range bySubject[d] {
				if err := attachOne(ctx, s, r, created); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// record is one supply-chain record to attach to its subject.
type record struct {
	subject v1.Descriptor
	mt      string
	data    []byte
	suffix  string
}

func attachOne(ctx context.Context, s *push.Session, r record, created string) error {
	ref, err := push.NewReferrer(r.subject, r.mt, r.data, created)
	if err != nil {
		return err
	}
	return s.Attach(ctx, ref, r.subject.Digest.Algorithm+"-"+r.subject.Digest.Hex+r.suffix)
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
	var opts []name.Option
	for _, h := range o.Insecure {
		if r, err := name.NewRegistry(h); err == nil && sameRegistry(o.Repo, r) {
			opts = append(opts, name.Insecure)
		}
	}
	repo, err := name.NewRepository(o.Repo, append(opts, name.StrictValidation)...)
	if err != nil {
		return tags.Release{}, name.Repository{}, fmt.Errorf("repository %q is not a valid image name: use lowercase REGISTRY/PATH, e.g. ghcr.io/acme/app", o.Repo)
	}
	return rel, repo, nil
}

func sameRegistry(repo string, reg name.Registry) bool {
	r, err := name.NewRepository(repo)
	return err == nil && r.RegistryStr() == reg.RegistryStr()
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

// describe sums the sizes of what the registry holds for the result: each
// distinct layer and config once.
func describe(b build.Result, repo name.Repository, stats push.Stats) (Result, error) {
	res := Result{Repository: repo.String(), Digest: b.Digest, Version: b.Version, Push: stats,
		Ref: repo.Digest(b.Digest.String())}
	res.Sizes.Uploaded = stats.UploadedBytes
	seen := map[v1.Hash]bool{}
	for _, pi := range b.Images {
		res.Platforms = append(res.Platforms, pi.Platform.String())
		m, err := pi.Image.Manifest()
		if err != nil {
			return Result{}, fmt.Errorf("reading the manifest: %w", err)
		}
		res.Sizes.Compressed += m.Config.Size
		ls, err := pi.Image.Layers()
		if err != nil {
			return Result{}, fmt.Errorf("reading layers: %w", err)
		}
		for i, l := range ls {
			if seen[m.Layers[i].Digest] {
				continue
			}
			seen[m.Layers[i].Digest] = true
			n, err := uncompressedSize(l)
			if err != nil {
				return Result{}, err
			}
			res.Sizes.Compressed += m.Layers[i].Size
			res.Sizes.Uncompressed += n
		}
	}
	return res, nil
}

func uncompressedSize(l v1.Layer) (int64, error) {
	if known, ok := l.(interface{ UncompressedSize() int64 }); ok {
		return known.UncompressedSize(), nil
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, fmt.Errorf("reading a layer: %w", err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return 0, fmt.Errorf("reading a layer: %w", err)
	}
	return n, nil
}
