// Package build turns a Go main package into a container image: it reads
// .ko.yaml, resolves the base, compiles a static binary per platform in
// parallel, lays each on the base, joins several platforms in an OCI image
// index, and makes the image's SBOMs and provenance. It writes nothing:
// delivering the result is the push package's work.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/attest"
	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/imagespec"
	"github.com/buildercli/builder/internal/platform"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/source"
	"github.com/buildercli/builder/internal/trace"
)

// Env is the environment a build runs in, as opposed to what the user asked
// for (Request).
type Env struct {
	// HostArch is the architecture of the machine running the build.
	HostArch string
	// Environ is the environment the compiler starts from.
	Environ []string
	// SourceDateEpoch, when set, is the image's creation time in Unix
	// seconds, instead of the commit's.
	SourceDateEpoch string
	// KoConfig is $KO_CONFIG_PATH, where source finds .ko.yaml: a file or
	// a directory holding one; the module root's when empty.
	KoConfig string
	// Cache keeps compiled binaries, compressed layers and pulled bases
	// between builds; its Scratch is where they go without a cache, and
	// must outlive the result's use.
	Cache cache.Cache
	// Shared, when set, is what several services of one run share: the
	// bases resolved and the notes written.
	Shared *Shared
	// Registry reaches a registry base.
	Registry registry.Client
	// BuilderVersion is builder's own version, for the records.
	BuilderVersion string
	// Progress shows long compiles.
	Progress *gobuild.Progress
	// Self is builder's own executable, which serves as the Go build
	// cache program (see gocache).
	Self string
	// Trace, when set, times the phases of the build.
	Trace *trace.Stopwatch
	// Log gets notes and progress.
	Log io.Writer
}

// Result is a built image, or index of images, and how it is named.
type Result struct {
	// Artifact is Image for one platform, else Index.
	Artifact registry.Artifact
	Image    v1.Image
	Index    v1.ImageIndex
	// Images holds each platform's image, in platform order.
	Images  []PlatformImage
	Digest  v1.Hash
	Ref     name.Tag
	Version string
	// Created is the image's time: the commit's, never the clock's.
	Created time.Time
	// Base names the base as labels do; BaseDigest is what it resolved to,
	// empty for the built-in base.
	Base       string
	BaseDigest v1.Hash
	// Records are the SBOM of each image and the provenance of Artifact,
	// as the request asked for them.
	Records attest.Records
}

// PlatformImage is the image built for one platform.
type PlatformImage struct {
	Platform   v1.Platform
	Image      v1.Image
	Digest     v1.Hash
	BaseDigest v1.Hash
	// Binary is the compiled binary; it lives as long as the build's
	// scratch directory or cache.
	Binary string
}

// Plan settles everything a build of src decides before it compiles: the
// settings, the version, the base and the platforms. Bad input fails here,
// before anything is compiled.
func Plan(ctx context.Context, src source.Package, req Request, env Env) (*Planned, error) {
	if env.Log == nil {
		env.Log = io.Discard
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	pl, err := newPlan(ctx, src, req, env)
	if err != nil {
		return nil, err
	}
	env.Trace.Mark("plan")
	return pl, nil
}

// Platforms are the platforms the plan builds, sorted.
func (pl *Planned) Platforms() []v1.Platform { return pl.platforms }

// Build compiles and assembles what the plan describes.
func (pl *Planned) Build(ctx context.Context) (Result, error) {
	res, err := All(ctx, []*Planned{pl}, "", Handoff{})
	if err != nil {
		return Result{}, err
	}
	return res[0], nil
}

// Handoff is what All gives each plan's result to, and when.
type Handoff struct {
	// Made, when set, is given each plan's result that is made while
	// other binaries still compile, as soon as it is made: the run may
	// yet fail, so Made may prepare a delivery (send blobs no manifest
	// names) but must not make one visible. It should return quickly.
	Made func(i int, res Result)
	// Ready, when set, is given each plan's result once it is made and
	// every binary has compiled, while other images may still be being
	// made, so that it can be delivered at once. It should return
	// quickly; an error from it fails All. It is never called when a
	// binary fails to compile, nor once another image or call failed.
	Ready func(i int, res Result) error
}

// All builds what each plan describes: it compiles every binary of every
// plan together (see gobuild.BuildEach: one go build for the packages
// that share their settings), and makes each image as soon as its binary
// is final, a few at a time, while the compiler may still link others;
// each result goes to h as it is made. cacheProg, when set, is the
// GOCACHEPROG the compiler runs with (see gocache): it changes how fast
// binaries are made, never their bytes.
func All(ctx context.Context, plans []*Planned, cacheProg string, h Handoff) ([]Result, error) {
	if len(plans) == 0 {
		return nil, nil
	}
	// What was started for a run that fails is stopped.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Each binary's path is locked until its image is made. Two runs may
	// build the same services named in other orders: the locks are taken
	// in one order, the keys', so that neither waits for the other's.
	type slot struct {
		pl  *Planned
		p   v1.Platform
		key string
	}
	var slots []slot
	for _, pl := range plans {
		fmt.Fprintf(pl.env.Log, "building %s %s for %s on %s\n", pl.src.ImportPath, pl.meta.version, platform.List(pl.platforms), pl.base.Name)
		for _, p := range pl.platforms {
			slots = append(slots, slot{pl, p, pl.binaryKey(p)})
		}
	}
	order := make([]int, len(slots))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(slots[a].key, slots[b].key) })
	for k := 1; k < len(order); k++ {
		if a, b := slots[order[k-1]], slots[order[k]]; a.key == b.key {
			return nil, fmt.Errorf("%s is named twice for %s: name each package once", a.pl.src.ImportPath, a.p)
		}
	}
	jobs := make([]*job, len(slots))
	defer func() {
		for _, j := range jobs {
			if j != nil {
				j.unlock()
			}
		}
	}()
	for _, i := range order {
		j, err := slots[i].pl.prepare(ctx, slots[i].p)
		if err != nil {
			return nil, err
		}
		j.opts.CacheProg = cacheProg
		jobs[i] = j
	}
	opts := make([]gobuild.Options, len(jobs))
	for i, j := range jobs {
		opts[i] = j.opts
	}
	first := plans[0].env
	images := make([]PlatformImage, len(jobs))
	results := make([]Result, len(plans))
	var mu sync.Mutex
	left := make([]int, len(plans)) // each plan's images still to make
	plan := make([]int, len(jobs))  // each job's plan
	at := make([]int, len(plans))   // each plan's first job
	for k, pl := range plans {
		if k > 0 {
			at[k] = at[k-1] + len(plans[k-1].platforms)
		}
		left[k] = len(pl.platforms)
		for n := range pl.platforms {
			plan[at[k]+n] = k
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	// Each image's layers keep several cores busy, so that making them
	// a few at a time takes no longer than all at once, and a result is
	// ready early rather than every one at the end.
	turns := make(chan struct{}, max(2, runtime.NumCPU()))
	compiled := make(chan struct{})
	// makeImage makes job i's image once its binary is final, which may be
	// while go build still links others; its plan's result goes to
	// h.Made at once if that is so, and to h.Ready once every binary has
	// compiled.
	makeImage := func(i int) {
		g.Go(func() error {
			select {
			case turns <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			k, done, err := func() (int, bool, error) {
				defer func() { <-turns }()
				if err := gctx.Err(); err != nil {
					return 0, false, err
				}
				img, err := jobs[i].pl.finish(jobs[i])
				if err != nil {
					return 0, false, err
				}
				images[i] = img
				mu.Lock()
				left[plan[i]]--
				done := left[plan[i]] == 0
				mu.Unlock()
				k := plan[i]
				if !done {
					return k, false, nil
				}
				pl := plans[k]
				results[k], err = pl.result(images[at[k] : at[k]+len(pl.platforms)])
				return k, true, err
			}()
			if err != nil || !done {
				return err
			}
			select {
			case <-compiled:
			default:
				if h.Made != nil && gctx.Err() == nil {
					h.Made(k, results[k])
				}
			}
			if h.Ready == nil {
				return nil
			}
			select {
			case <-compiled:
			case <-gctx.Done():
			}
			// Both may be ready: a failure wins.
			if err := gctx.Err(); err != nil {
				return err
			}
			return h.Ready(k, results[k])
		})
	}
	g.Go(func() error {
		fresh, err := gobuild.BuildEach(gctx, opts, first.Cache.Enabled(), makeImage)
		var ce *gobuild.CompileError
		if errors.As(err, &ce) && len(jobs) == 1 {
			ce.Package = plans[0].src.ImportPath
		}
		if err != nil {
			return err
		}
		for i, f := range fresh {
			if f {
				first.Trace.Mark("binary up to date " + jobs[i].platform.String())
			}
		}
		first.Trace.Mark("go build")
		close(compiled)
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	first.Trace.Mark("layers")
	return results, nil
}

// result joins the images of the plan's platforms and makes the records.
func (pl *Planned) result(images []PlatformImage) (Result, error) {
	res := Result{Images: images, Ref: pl.ref, Version: pl.meta.version, Created: pl.meta.created,
		Base: pl.base.Name, BaseDigest: pl.base.Digest}
	if len(images) == 1 {
		res.Image, res.Artifact, res.Digest = images[0].Image, images[0].Image, images[0].Digest
	} else {
		var err error
		if res.Index, err = pl.index(images); err != nil {
			return Result{}, err
		}
		res.Artifact = res.Index
		if res.Digest, err = res.Index.Digest(); err != nil {
			return Result{}, fmt.Errorf("computing the index digest: %w", err)
		}
		pl.env.Trace.Mark("index")
	}
	var err error
	if res.Records, err = pl.records(res); err != nil {
		return Result{}, err
	}
	return res, nil
}

// Image plans and builds src: Plan, then Build.
func Image(ctx context.Context, src source.Package, req Request, env Env) (Result, error) {
	pl, err := Plan(ctx, src, req, env)
	if err != nil {
		return Result{}, err
	}
	return pl.Build(ctx)
}

// index joins the platforms' images in an OCI image index, in platform
// order.
func (pl *Planned) index(images []PlatformImage) (v1.ImageIndex, error) {
	ps := make([]imagespec.Platformed, len(images))
	for i, im := range images {
		ps[i] = imagespec.Platformed{Platform: im.Platform, Image: im.Image}
	}
	baseDigest := ""
	if pl.base.Digest.Hex != "" {
		baseDigest = pl.base.Digest.String()
	}
	return imagespec.Index(ps, pl.facts(""), pl.svc.labels, baseDigest)
}
