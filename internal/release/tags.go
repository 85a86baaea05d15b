package release

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/registry"
)

// Plan is what publishing a release writes: the tags that move to it, and
// the floating tags left where they are.
type Plan struct {
	release Release
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

// floatingForm is the form of a floating tag: latest, vN or vN.N.
var floatingForm = regexp.MustCompile(`^(latest|v?[0-9]+(\.[0-9]+)?)$`)

// CheckExtra refuses an extra tag that would name a floating tag of
// another release line: it would move where no release of it should. The
// release's own floating tags are allowed, and decided as those are.
func (r Release) CheckExtra(tag string) error {
	if floatingForm.MatchString(tag) && !slices.Contains(r.Floating(), tag) {
		return fmt.Errorf("--extra-tag %s is a floating tag that %s does not move: builder moves floating tags itself, never backwards; drop it", tag, r.Tag)
	}
	return nil
}

// NewPlan decides the tags of r, given the tags the repository has
// (existing). commit is the short commit of a clean tree, "" for none. An
// extra tag that is one of r's floating tags is decided as those are.
func NewPlan(r Release, commit string, extra, existing []string) Plan {
	p := Plan{release: r, Version: r.Tag, Moved: []string{r.Tag}}
	if commit != "" {
		p.Moved = append(p.Moved, Git(commit))
	}
	for _, t := range extra {
		if !slices.Contains(p.Moved, t) && !slices.Contains(r.Floating(), t) {
			p.Moved = append(p.Moved, t)
		}
	}
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
	var mu sync.Mutex
	cur := Current{}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, t := range names {
		if !slices.Contains(existing, t) {
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

// CheckImmutable refuses to repoint a released version's tag — the
// release's own, or one named as an extra tag — at other content than d.
func (p Plan) CheckImmutable(cur Current, d v1.Hash) error {
	for _, t := range p.Moved {
		if _, ok := parseVersion(t); !ok {
			continue
		}
		if had, ok := cur[t]; ok && had != d {
			return fmt.Errorf("%s already points at %s, another image: a released version is not overwritten; publish a new version", t, had)
		}
	}
	return nil
}

// MayRefuse reports whether CheckImmutable could refuse an image, given
// the tags the repository had (existing): only a version tag the plan
// moves that is among them can point at another image.
func (p Plan) MayRefuse(existing []string) bool {
	for _, t := range p.Moved {
		if _, ok := parseVersion(t); ok && slices.Contains(existing, t) {
			return true
		}
	}
	return false
}

// Written says which of a plan's tags a publish wrote: all of Moved, or
// with an error, those in Written and not those in Failed.
type Written struct {
	Written []string `json:"tags_written"`
	Failed  []string `json:"tags_not_written"`
}

// WriteVersion points only the version's own tag at a (unless cur says it
// does already) and returns cur saying so. A publish of several services
// writes every service's version tag before any other tag, so that one
// that fails leaves no floating tag moved anywhere, only immutable
// version tags.
func (p Plan) WriteVersion(ctx context.Context, s *registry.Session, a registry.Artifact, cur Current) (Current, error) {
	d, err := a.Digest()
	if err != nil {
		return cur, fmt.Errorf("computing the image digest: %w", err)
	}
	if cur[p.Version] == d {
		return cur, nil
	}
	if err := s.Tag(ctx, a, p.Version); err != nil {
		return cur, err
	}
	next := Current{p.Version: d}
	for t, h := range cur {
		if t != p.Version {
			next[t] = h
		}
	}
	return next, nil
}

// Write points the plan's tags at a, whose blobs and manifests are pushed,
// in parallel (the image is complete, so their order does not matter; the
// version's own tag goes first, so that a concurrent publish sees it),
// skipping those that already point at it (cur). Every tag is tried; the
// error names those that failed.
func (p Plan) Write(ctx context.Context, s *registry.Session, a registry.Artifact, cur Current) (Written, error) {
	d, err := a.Digest()
	if err != nil {
		return Written{Failed: p.Moved}, fmt.Errorf("computing the image digest: %w", err)
	}
	var w Written
	var errs []error
	var mu sync.Mutex
	write := func(t string) {
		var err error
		if cur[t] != d {
			err = s.Tag(ctx, a, t)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			w.Failed = append(w.Failed, t)
			errs = append(errs, err)
			return
		}
		w.Written = append(w.Written, t)
	}
	write(p.Version)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, t := range p.Moved[1:] {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			write(t)
		}()
	}
	wg.Wait()
	order := func(tags []string) {
		sort.Slice(tags, func(i, j int) bool { return slices.Index(p.Moved, tags[i]) < slices.Index(p.Moved, tags[j]) })
	}
	order(w.Written)
	order(w.Failed)
	if len(errs) > 0 {
		// The first error is the cause; the others are most often the same.
		return w, fmt.Errorf("wrote %d of %d tags (not %s): %w", len(w.Written), len(p.Moved), strings.Join(w.Failed, ", "), errs[0])
	}
	return w, nil
}

// Settle runs after the plan's tags are written: it lists the repository's
// tags again and moves each of the release's floating tags that does not
// point at the highest release in its range to that release, then checks
// again, until a pass moves nothing. Registries have no compare-and-swap for
// tags, so two publishes of different versions at once may each move a
// floating tag after the other decided, or settled on a list that lacked the
// other's version; since every publish writes its version tag before its
// floating tags and ends with a pass that moves nothing, the last write to a
// floating tag is followed by a pass that sees every version written before
// it. It returns the tags it moved, with the release each now names.
func (p Plan) Settle(ctx context.Context, s *registry.Session) ([]Left, error) {
	var moved []Left
	for range maxSettlePasses {
		pass, err := p.settleOnce(ctx, s)
		if err != nil {
			return moved, err
		}
		if len(pass) == 0 {
			return moved, nil
		}
		for _, l := range pass {
			i := slices.IndexFunc(moved, func(m Left) bool { return m.Tag == l.Tag })
			if i >= 0 {
				moved[i] = l
			} else {
				moved = append(moved, l)
			}
		}
	}
	return moved, fmt.Errorf("the floating tags of %s kept moving after %d passes: another publish is racing this one; run it again", p.Version, maxSettlePasses)
}

// maxSettlePasses bounds Settle.
const maxSettlePasses = 8

// settleOnce is one pass of Settle.
func (p Plan) settleOnce(ctx context.Context, s *registry.Session) ([]Left, error) {
	floating := p.release.Floating()
	if len(floating) == 0 {
		return nil, nil
	}
	tags, err := s.Tags(ctx)
	if err != nil {
		return nil, err
	}
	var moved []Left
	for i, f := range floating {
		target := p.release.highest(i, tags)
		if target == "" {
			continue
		}
		want, ok, err := s.Resolve(ctx, target)
		if err != nil || !ok {
			return moved, err
		}
		have, ok, err := s.Resolve(ctx, f)
		if err != nil {
			return moved, err
		}
		if ok && have == want {
			continue
		}
		if err := s.Retag(ctx, want, f); err != nil {
			return moved, err
		}
		moved = append(moved, Left{Tag: f, Newer: target})
	}
	return moved, nil
}

// highest returns the tag of the highest release (no pre-release) among
// tags in the range of r's floating tag i.
func (r Release) highest(i int, tags []string) string {
	var best *semver.Version
	name := ""
	for _, t := range tags {
		v, ok := parseVersion(t)
		if !ok || v.Prerelease() != "" || !inRange(i, v, r.version) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best, name = v, t
		}
	}
	return name
}

// parseVersion reads a SemVer 2.0 version tag, with or without a leading v.
func parseVersion(tag string) (*semver.Version, bool) {
	v, err := semver.StrictNewVersion(strings.TrimPrefix(tag, "v"))
	return v, err == nil && v.Metadata() == ""
}
