package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

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
// checkout and the registry, builds the image of each service o names
// (compiled together), pushes every image and its records, and only then
// writes the release's tags: with several services, every version tag
// before the others (see tagAll). It returns one Result a service, in
// order. env.Registry reaches the registry.
func Publish(ctx context.Context, o PublishOptions, env build.Env) ([]Result, error) {
	env.Trace.Mark("start")
	rel, _, err := o.check(env.Registry)
	if err != nil {
		return nil, err
	}
	if err := o.checkCacheRepo(env); err != nil {
		return nil, err
	}
	if err := o.checkEngine(ctx); err != nil {
		return nil, err
	}
	srcs, err := source.ReadAll(ctx, o.Paths, env.KoConfig)
	if err != nil {
		return nil, err
	}
	env.Trace.Mark("git")
	for _, src := range srcs {
		if src.Git.Dirty && !o.AllowDirty {
			return nil, fmt.Errorf("%w: commit them, or pass --allow-dirty to publish anyway (without a git-<commit> tag)", ErrDirty)
		}
	}
	env, done, err := env.WithScratch()
	if err != nil {
		return nil, err
	}
	defer done()
	goCache := StartGoCache(ctx, o.CacheRepo, srcs, o.Build.Platform, env)
	defer goCache.Cancel()
	o.Build.Repo = o.Repo
	o.Build.SBOM, o.Build.Provenance = o.SBOM != None, o.Provenance != None
	// What planning says waits until every repository has answered, so
	// that a registry that refuses is the only line printed; a planning
	// error is printed after it.
	log := &heldLog{w: env.Log}
	env.Log = log
	plans, err := o.plan(ctx, srcs, env)
	if err == nil {
		err = o.checkBuilt(plans)
	}
	if err != nil {
		// What planning noted may explain its error.
		log.release()
		return nil, err
	}
	// Each service goes to the repository its plan names: o.Repo for one.
	targets := make([]*target, len(plans))
	g, gctx := errgroup.WithContext(ctx)
	for i, pl := range plans {
		g.Go(func() (err error) {
			targets[i], err = o.open(ctx, gctx, pl.Ref().Context().Name(), srcs[i], rel, env)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	log.release()
	env.Trace.Mark("list tags")
	// Each image's layers are sent as soon as it is made, while other
	// binaries may still compile, and the image is pushed once every
	// binary has compiled, while the others are still being made; unless
	// a version tag that exists could refuse one of them: then every
	// image is checked first, and nothing is pushed unless all pass.
	outs := o.localOutputs(plans)
	var undo push.Undo
	results := make([]Result, len(plans))
	p, pctx := newPusher(ctx, targets, outs, results, &undo, env)
	var h build.Handoff
	if !slices.ContainsFunc(targets, func(t *target) bool { return t.mayRefuse }) {
		h.Made = func(i int, b build.Result) { p.send(pctx, i, b) }
		h.Ready = func(i int, b build.Result) error { return p.start(pctx, i, b) }
	}
	built, err := build.All(ctx, plans, goCache.Program(env), h)
	if err != nil {
		// A push that failed stopped the others, and the build: its
		// error, not the stop's, says what went wrong.
		if perr := p.stop(); perr != nil && ctx.Err() == nil && errors.Is(err, context.Canceled) {
			err = perr
		}
		if rerr := undo.Restore(); rerr != nil {
			fmt.Fprintf(env.Log, "note: %v\n", rerr)
		}
		return nil, err
	}
	// The new outputs are shared while the images are pushed and tagged.
	defer goCache.Share(ctx, env)()
	if h.Ready == nil {
		if err := p.checkAll(built); err != nil {
			_ = p.stop() // nothing was pushed yet
			return nil, err
		}
		for i, b := range built {
			if err = p.start(pctx, i, b); err != nil {
				p.cancel()
				break
			}
		}
	}
	if werr := p.wait(); err == nil {
		err = werr
	}
	if err == nil {
		err = tagAll(ctx, targets, built, results, env)
	}
	var refs []string
	for i := range results {
		results[i].References = results[i].references()
		refs = append(refs, results[i].References...)
	}
	if err == nil && o.ImageRefs != "" {
		err = atomicfile.WriteFile(o.ImageRefs, []byte(strings.Join(refs, "\n")+"\n"))
	}
	if err != nil {
		if rerr := undo.Restore(); rerr != nil {
			fmt.Fprintf(env.Log, "note: %v\n", rerr)
		}
		return results, err
	}
	undo.Forget()
	return results, nil
}

// target is where one service is published: its repository, and the
// release's tags there.
type target struct {
	repo    name.Repository
	session *registry.Session
	plan    release.Plan
	current func() (release.Current, error)
	cur     release.Current
	// mayRefuse says whether a version tag the release writes exists,
	// and could point at another image (see release.Plan.MayRefuse).
	mayRefuse bool
}

// open opens the repository name, lists its tags, plans the
// release's tags there and starts looking up those that exist, under ctx,
// while the image builds; gctx bounds the listing.
func (o PublishOptions) open(ctx, gctx context.Context, name string, src source.Package, rel release.Release, env build.Env) (*target, error) {
	repo, err := env.Registry.Repository(name)
	if err != nil {
		return nil, err
	}
	t := &target{repo: repo}
	if t.session, err = env.Registry.Open(t.repo); err != nil {
		return nil, err
	}
	existing, err := t.session.Tags(gctx)
	if err != nil {
		return nil, err
	}
	commit := ""
	if !src.Git.Dirty {
		commit = src.Git.ShortCommit
	}
	t.plan = release.NewPlan(rel, commit, o.ExtraTags, existing)
	t.current = t.plan.Lookup(ctx, t.session, existing)
	t.mayRefuse = t.plan.MayRefuse(existing)
	return t, nil
}

// pusher delivers each image to its local outputs and pushes it and its
// records to its repository, a few at a time; no tag is written. A layer
// they share (the base's) is sent once, by the first push that needs it,
// and mounted by the others (see registry.Client).
type pusher struct {
	targets []*target
	outs    []push.Multi
	results []Result
	env     build.Env
	g       *errgroup.Group
	cancel  context.CancelFunc // stops the pushes
	slots   chan struct{}      // the pushes that may run at once
	// sizes keeps what the layers uncompress to, for the results.
	sizes layerSizes
	undo  *push.Undo // remembers the local outputs before they are written

	mu sync.Mutex // guards sent
	// sent[i] is closed once what send sent ahead for the i-th service
	// is sent, or failed; nil when nothing was. Its push waits for it:
	// a push that asked for a blob while the send-ahead was sending it
	// would get that send's error rather than send it again.
	sent []chan struct{}
}

// newPusher returns a pusher and the context its pushes run under, which
// its stop and the first failure cancel.
func newPusher(ctx context.Context, targets []*target, outs []push.Multi, results []Result, undo *push.Undo, env build.Env) (*pusher, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	return &pusher{targets: targets, outs: outs, results: results, env: env, g: g, cancel: cancel,
		slots: make(chan struct{}, 8), sent: make([]chan struct{}, len(targets)), undo: undo}, gctx
}

// checkAll refuses, before anything is pushed, to repoint any service's
// released version at another image.
func (p *pusher) checkAll(built []build.Result) error {
	for i, t := range p.targets {
		cur, err := t.current()
		if err != nil {
			return err
		}
		if err := t.plan.CheckImmutable(cur, built[i].Digest); err != nil {
			return err
		}
	}
	return nil
}

// start checks the i-th service's tags against b, remembers what its local
// outputs hold, and starts delivering b under ctx (newPusher's); it does
// not wait.
func (p *pusher) start(ctx context.Context, i int, b build.Result) error {
	// A push that failed stops the others, and the build.
	if err := ctx.Err(); err != nil {
		return err
	}
	t := p.targets[i]
	cur, err := t.current()
	if err != nil {
		return err
	}
	if err := t.plan.CheckImmutable(cur, b.Digest); err != nil {
		return err
	}
	t.cur = cur
	if err := p.undo.Remember(ctx, p.outs[i], b); err != nil {
		return err
	}
	p.mu.Lock()
	sent := p.sent[i]
	p.mu.Unlock()
	p.g.Go(func() error {
		if sent != nil {
			select {
			case <-sent:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-p.slots }()
		if err := ctx.Err(); err != nil {
			return err
		}
		to := &push.Registry{Session: t.session}
		if err := append(p.outs[i], to).Deliver(ctx, b, p.env.Log); err != nil {
			return err
		}
		var err error
		p.results[i], err = describe(b, t.repo, to.Stats, &p.sizes)
		return err
	})
	return nil
}

// send starts sending the blobs of the i-th service's image, b (layers,
// configs), and of its records to its repository under ctx (newPusher's),
// ahead of its push: blobs that no manifest names until the push, which
// waits for them and finds them sent. A failure only leaves the push to
// send them.
func (p *pusher) send(ctx context.Context, i int, b build.Result) {
	t := p.targets[i]
	done := make(chan struct{})
	p.mu.Lock()
	p.sent[i] = done
	p.mu.Unlock()
	p.g.Go(func() error {
		defer close(done)
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		defer func() { <-p.slots }()
		_ = push.SendAhead(ctx, t.session, b)
		return nil
	})
}

// wait waits for every push started, and returns the first error.
func (p *pusher) wait() error {
	defer p.cancel()
	if err := p.g.Wait(); err != nil {
		return err
	}
	p.env.Trace.Mark("push image and records")
	return nil
}

// stop stops the pushes, waits for them, and returns the first error of
// one.
func (p *pusher) stop() error {
	p.cancel()
	return p.g.Wait()
}

// tagAll writes and settles the release's tags of each service, several
// services at once. With several, every service's version tag is written
// first: a failure then leaves immutable version tags, and no floating tag
// moved. Each write is tried, and the results say what each service got.
func tagAll(ctx context.Context, targets []*target, built []build.Result, results []Result, env build.Env) error {
	if len(targets) > 1 {
		errs := eachService(targets, func(i int, t *target) error {
			var err error
			t.cur, err = t.plan.WriteVersion(ctx, t.session, built[i].Artifact, t.cur)
			return err
		})
		if i, err := first(errs); err != nil {
			// Say which tags each service has: its version, or none.
			for j, t := range targets {
				moved := t.plan.Moved
				results[j].Moved, results[j].Left = moved, t.plan.Left
				results[j].Written = &release.Written{Written: moved[:1], Failed: moved[1:]}
				if errs[j] != nil {
					results[j].Written = &release.Written{Failed: moved}
				}
			}
			return fmt.Errorf("%s: writing %s: %w", targets[i].repo, targets[i].plan.Version, err)
		}
	}
	errs := eachService(targets, func(i int, t *target) error {
		return tag(ctx, t, built[i], &results[i])
	})
	if i, err := first(errs); err != nil {
		if len(targets) > 1 {
			return fmt.Errorf("%s: %w", targets[i].repo, err)
		}
		return err
	}
	env.Trace.Mark("tags")
	return nil
}

// eachService runs f for each target, 8 at a time, and returns their
// errors, by target.
func eachService(targets []*target, f func(i int, t *target) error) []error {
	errs := make([]error, len(targets))
	var g errgroup.Group
	g.SetLimit(8)
	for i, t := range targets {
		g.Go(func() error {
			errs[i] = f(i, t)
			return nil
		})
	}
	_ = g.Wait()
	return errs
}

// first returns the first error of errs and its index.
func first(errs []error) (int, error) {
	for i, err := range errs {
		if err != nil {
			return i, err
		}
	}
	return -1, nil
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

// tag writes the plan's tags for the pushed image and settles the
// floating ones, saying in res what it did.
func tag(ctx context.Context, t *target, built build.Result, res *Result) error {
	plan := t.plan
	res.Moved, res.Left = plan.Moved, plan.Left
	written, err := plan.Write(ctx, t.session, built.Artifact, t.cur)
	res.Written = &written
	if err != nil {
		return err
	}
	settled, err := plan.Settle(ctx, t.session)
	if err != nil {
		return fmt.Errorf("checking the floating tags after writing them: %w", err)
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
	return nil
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

// heldLog keeps what is written to it until release, then passes it on.
type heldLog struct {
	mu       sync.Mutex
	w        io.Writer
	held     bytes.Buffer
	released bool
}

func (h *heldLog) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return h.w.Write(p)
	}
	return h.held.Write(p)
}

// release writes what was held and passes on what comes after.
func (h *heldLog) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, _ = h.w.Write(h.held.Bytes())
	h.held.Reset()
	h.released = true
}
