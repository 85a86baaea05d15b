package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"
)

// Client reaches registries as a run should: with its credentials, over
// its transport, and with the rule for which registries may be reached over
// plain HTTP. Zero fields are useful: New fills them in for a run.
type Client struct {
	// Keychain finds credentials; authn.DefaultKeychain (docker's
	// config.json and credential helpers) when nil.
	Keychain authn.Keychain
	// Transport carries the traffic; NewTransport(nil, Insecure) when nil.
	Transport http.RoundTripper
	// Insecure lists registries (host[:port]) that may be reached over
	// plain HTTP although they are not on loopback.
	Insecure []string
	// Mounts remembers where blobs are, for cross-repository mounts.
	Mounts Mounts
	// Progress hears how each layer of a push goes; nil for nothing.
	Progress Progress
	// uploads lets the pushes of one run send a blob they share once; nil
	// in a Client that New did not make.
	uploads *uploads
}

// New returns the client of one run: docker's keychain, and one transport
// for every registry, so that what it learns of them (which speak plain
// HTTP) is learnt once.
func New(insecure []string) Client {
	return Client{Keychain: authn.DefaultKeychain, Transport: NewTransport(nil, insecure), Insecure: insecure, uploads: &uploads{}}
}

// Options returns the ggcr options that reach registries as c says, with
// the defaults for its zero fields.
func (c Client) Options() []remote.Option {
	if c.Keychain == nil {
		c.Keychain = authn.DefaultKeychain
	}
	t := c.transport()
	// Retries are bounded by the transport's budget, which ggcr's
	// restarts draw on too.
	var budget *retryBudget
	if r, ok := t.(*retrying); ok {
		budget = r.budget
	}
	return []remote.Option{
		remote.WithAuthFromKeychain(c.Keychain),
		remote.WithTransport(t),
		// The transport retries statuses and connection failures itself,
		// where it can send the request again; ggcr restarts an upload
		// whose stream broke, which the transport cannot replay, after a
		// constant FirstBackoff.
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(func(err error) bool {
			return isDroppedConnection(err) && budget.take(FirstBackoff)
		}),
		remote.WithRetryBackoff(remote.Backoff{Duration: FirstBackoff, Factor: 1, Steps: 3}),
	}
}

// transport is c's Transport, else the default one.
func (c Client) transport() http.RoundTripper {
	if c.Transport == nil {
		return NewTransport(nil, c.Insecure)
	}
	return c.Transport
}

// Progress hears how each layer of a push goes.
type Progress interface {
	// Layer announces a layer of the push, and returns what hears of it.
	Layer(d v1.Hash, size int64) LayerProgress
}

// LayerProgress hears of one layer: the bytes sent, and how it got there.
type LayerProgress interface {
	Sent(n int64)
	// Restart says the upload starts over: the bytes sent so far no
	// longer count.
	Restart()
	// Done says how the layer got there: "uploaded", "exists", "mounted
	// from REPO".
	Done(state string)
}

// noProgress hears nothing.
type noProgress struct{}

func (noProgress) Layer(v1.Hash, int64) LayerProgress { return noProgress{} }
func (noProgress) Sent(int64)                         {}
func (noProgress) Restart()                           {}
func (noProgress) Done(string)                        {}

func (c Client) progress() Progress {
	if c.Progress == nil {
		return noProgress{}
	}
	return c.Progress
}

// Session talks to one repository, authenticating once.
type Session struct {
	repo   name.Repository
	c      Client
	pusher *remote.Pusher
	puller *remote.Puller
}

// Stats says what a push sent.
type Stats struct {
	// Layers counts the image's layers; Existing, Mounted and Uploaded
	// how each got there.
	Layers, Existing, Mounted, Uploaded int
	// UploadedBytes counts the layer bytes sent, each once: an upload that
	// started over counts from its start.
	UploadedBytes int64
}

// Open prepares a session with repo.
func (c Client) Open(repo name.Repository) (*Session, error) {
	opts := c.Options()
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, fmt.Errorf("preparing to push to %s: %w", repo, err)
	}
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, fmt.Errorf("preparing to read %s: %w", repo, err)
	}
	return &Session{repo: repo, c: c, pusher: pusher, puller: puller}, nil
}

// Tags lists the repository's tags; one that does not exist yet has none.
func (s *Session) Tags(ctx context.Context) ([]string, error) {
	tags, err := s.puller.List(withTagListBudget(ctx), s.repo)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", s.repo, Explain(s.repo.Registry, err))
	}
	return tags, nil
}

// Resolve returns the digest tag points at, and false when it does not exist.
func (s *Session) Resolve(ctx context.Context, tag string) (v1.Hash, bool, error) {
	desc, err := s.puller.Head(ctx, s.repo.Tag(tag))
	if isNotFound(err) {
		return v1.Hash{}, false, nil
	}
	if err != nil {
		return v1.Hash{}, false, fmt.Errorf("resolving %s:%s: %w", s.repo, tag, Explain(s.repo.Registry, err))
	}
	return desc.Digest, true, nil
}

// Push sends the layers of an image, or of an index's images (those
// missing, mounting what Mounts knows of), then configs and manifests by
// digest. No tag is written.
func (s *Session) Push(ctx context.Context, a Artifact) (Stats, error) {
	ls, err := layersOf(a)
	if err != nil {
		return Stats{}, err
	}
	stats := Stats{Layers: len(ls)}
	d, err := a.Digest()
	if err != nil {
		return Stats{}, fmt.Errorf("computing the image digest: %w", err)
	}
	// A registry holds a manifest only with every blob it names: when this
	// one is there, so is everything else.
	if have, err := s.puller.Head(ctx, s.repo.Digest(d.String())); err == nil && have.Digest == d {
		stats.Existing = len(ls)
		for _, l := range ls {
			ld, derr := l.Digest()
			size, serr := l.Size()
			if derr == nil && serr == nil {
				s.c.progress().Layer(ld, size).Done("exists")
			}
		}
		return stats, nil
	}
	results, err := s.pushLayers(ctx, ls, false)
	if err != nil {
		return Stats{}, err
	}
	for _, r := range results {
		stats.UploadedBytes += r.bytes
		switch r.how {
		case "exists":
			stats.Existing++
		case "mounted":
			stats.Mounted++
		default:
			stats.Uploaded++
		}
	}
	if err := s.pusher.Push(ctx, s.repo.Digest(d.String()), a); err != nil {
		return Stats{}, fmt.Errorf("pushing %s@%s: %w", s.repo, d, Explain(s.repo.Registry, err))
	}
	return stats, nil
}

// SendLayers sends the layers of a, as Push does, but nothing else: no
// manifest names them until a Push of a, which then finds them sent and
// counts them as its own. It lets the layers of an image go while the run
// may still fail: a registry keeps blobs no manifest names only until it
// collects its garbage. A Client that does not coordinate its pushes (not
// made by New) sends nothing ahead: its push could not count what was.
func (s *Session) SendLayers(ctx context.Context, a Artifact) error {
	if s.c.uploads == nil {
		return nil
	}
	ls, err := layersOf(a)
	if err != nil {
		return err
	}
	_, err = s.pushLayers(ctx, ls, true)
	return err
}

// pushLayers pushes ls, 4 at a time; ahead says they are sent ahead of
// their image's push (see SendLayers).
func (s *Session) pushLayers(ctx context.Context, ls []v1.Layer, ahead bool) ([]layerResult, error) {
	results := make([]layerResult, len(ls))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, l := range ls {
		g.Go(func() (err error) {
			results[i], err = s.pushLayer(gctx, l, ahead)
			return err
		})
	}
	return results, g.Wait()
}

// Tag points tag at a, whose blobs and manifests are already pushed.
func (s *Session) Tag(ctx context.Context, a Artifact, tag string) error {
	if err := s.pusher.Put(ctx, s.repo.Tag(tag), a); err != nil {
		return fmt.Errorf("tagging %s:%s: %w", s.repo, tag, Explain(s.repo.Registry, err))
	}
	return nil
}

type layerResult struct {
	how   string
	bytes int64
	state string // what its progress row says at the end
}

func (s *Session) pushLayer(ctx context.Context, l v1.Layer, ahead bool) (res layerResult, err error) {
	d, err := l.Digest()
	if err != nil {
		return layerResult{}, fmt.Errorf("computing a layer digest: %w", err)
	}
	size, err := l.Size()
	if err != nil {
		return layerResult{}, fmt.Errorf("sizing layer %s: %w", d, err)
	}
	// Sent ahead of this image, with its progress hidden: counted and
	// shown now, once that push, if still under way, is over.
	claim := func() (layerResult, bool, error) {
		r, ok, err := s.c.uploads.claim(ctx, s.repo, d)
		if err != nil {
			return layerResult{}, false, fmt.Errorf("pushing layer %s to %s: %w", d, s.repo, Explain(s.repo.Registry, err))
		}
		if ok {
			row := s.c.progress().Layer(d, size)
			row.Sent(r.bytes)
			row.Done(r.state)
		}
		return r, ok, nil
	}
	if !ahead {
		if r, ok, err := claim(); ok || err != nil {
			return r, err
		}
	} else if s.c.uploads != nil {
		if p := s.c.uploads.startAhead(s.repo, d); p != nil {
			// What was sent is recorded before the pushes waiting for it
			// go on, so that the image's own finds it.
			defer func() { s.c.uploads.endAhead(p, s.repo, d, res, err == nil && res.state != "") }()
		} else {
			// Another push ahead sends it here.
			return layerResult{}, nil
		}
	}
	// Another push of this run that sends the blob is waited for, and
	// mounted from.
	var src name.Repository
	canMount := false
	prior, first := s.c.uploads.begin(s.repo, d)
	defer func() {
		if first {
			s.c.uploads.finish(prior, s.repo, d, err == nil)
		}
	}()
	for !first && prior != nil {
		select {
		case <-prior.done:
		case <-ctx.Done():
			return layerResult{}, fmt.Errorf("pushing layer %s to %s: %w", d, s.repo, Explain(s.repo.Registry, ctx.Err()))
		}
		if prior.repo != "" {
			break
		}
		// That push failed: the next to ask sends the blob, and the
		// others wait for it again.
		if err := ctx.Err(); err != nil {
			return layerResult{}, fmt.Errorf("pushing layer %s to %s: %w", d, s.repo, Explain(s.repo.Registry, err))
		}
		prior, first = s.c.uploads.begin(s.repo, d)
	}
	if !first && prior != nil {
		if !ahead {
			if r, ok, err := claim(); ok || err != nil {
				return r, err
			}
		} else if prior.repo == s.repo.RepositoryStr() {
			// This run pushed it here already: nothing to send, or to
			// count.
			return layerResult{}, nil
		}
		if prior.repo != "" && prior.repo != s.repo.RepositoryStr() {
			src, canMount = s.repo.Repo(prior.repo), true
		}
	}
	if !canMount {
		src, canMount = s.c.Mounts.Lookup(s.repo, d)
	}
	// Layers sent ahead are shown when their image's push claims them:
	// the compiler's progress has the terminal meanwhile.
	row := LayerProgress(noProgress{})
	if !ahead {
		row = s.c.progress().Layer(d, size)
	}
	if canMount && s.exists(ctx, d) {
		canMount = false
	}
	var sent atomic.Int64
	var up v1.Layer = counted{Layer: l,
		onOpen: func() {
			if sent.Swap(0) > 0 {
				row.Restart()
			}
		},
		onRead: func(n int64) { sent.Add(n); row.Sent(n) }}
	if canMount {
		up = &remote.MountableLayer{Layer: up, Reference: src.Digest(d.String())}
	}
	if err := s.pusher.Upload(ctx, s.repo, up); err != nil {
		return layerResult{}, fmt.Errorf("pushing layer %s to %s: %w", d, s.repo, Explain(s.repo.Registry, err))
	}
	if err := s.c.Mounts.Record(s.repo, d); err != nil {
		return layerResult{}, err
	}
	res = layerResult{how: "uploaded", bytes: sent.Load(), state: "uploaded"}
	switch {
	case res.bytes > 0:
	case canMount:
		res.how, res.state = "mounted", "mounted from "+src.RepositoryStr()
	default:
		res.how, res.state = "exists", "exists"
	}
	row.Done(res.state)
	return res, nil
}

// exists reports whether the repository already has blob d.
func (s *Session) exists(ctx context.Context, d v1.Hash) bool {
	l, err := s.puller.Layer(ctx, s.repo.Digest(d.String()))
	if err != nil {
		return false
	}
	_, err = l.Size()
	return err == nil
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
