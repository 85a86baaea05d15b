package gocache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/buildercli/builder/internal/registry"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The remote format of an entry.
const (
	// ArtifactType is the artifactType of an entry's manifest.
	ArtifactType = "application/vnd.buildercli.gocache.v1"
	// OutputMediaType is the media type of an entry's one layer, its output.
	OutputMediaType types.MediaType = "application/vnd.buildercli.gocache.output.v1"
	// ActionAnnotation holds an entry's action ID in hex.
	ActionAnnotation = "dev.buildercli.gocache.action"

	emptyJSON = "{}"
)

const emptyMediaType types.MediaType = "application/vnd.oci.empty.v1+json"

// Bounds on the registry traffic of a Serve, variables so that tests can
// shorten them: a stalled registry costs one RequestTimeout, then Repo is
// off. A blob gets RequestTimeout plus a second for every
// MinBlobRate bytes.
var (
	RequestTimeout       = 5 * time.Second
	MinBlobRate    int64 = 8 << 20
	// MaxOutputSize bounds an output fetched from Repo.
	MaxOutputSize int64 = 1 << 30
)

// errMiss says Repo has no usable entry for an action: none, or a corrupt one.
var errMiss = errors.New("no usable remote entry")

// remoteCache reads entries from Repo during a Serve, failing fast: no
// retries, short deadlines, and off for good after the first failure.
type remoteCache struct {
	repo   name.Repository
	puller *remote.Puller
	off    atomic.Bool
	once   sync.Once
	onFail func(error) // hears of the failure that turned it off
	sem    chan struct{}
}

// fastTransport is a transport that gives up soon: no retries, a short
// dial and a short wait for an answer's headers. Like registry's, it
// speaks plain HTTP only to loopback hosts and those in insecure (ggcr
// would also try it for private addresses).
func fastTransport(insecure []string) http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: RequestTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = RequestTimeout
	t.ResponseHeaderTimeout = RequestTimeout
	allowed := map[string]bool{}
	for _, h := range insecure {
		allowed[h] = true
	}
	return plainGuard{inner: t, insecure: allowed}
}

// plainGuard refuses plain HTTP to a host neither on loopback nor insecure.
type plainGuard struct {
	inner    http.RoundTripper
	insecure map[string]bool
}

func (g plainGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if host := req.URL.Host; req.URL.Scheme == "http" && !g.insecure[host] && !registry.IsLoopback(host) {
		return nil, fmt.Errorf("%w: refusing http://%s; pass --insecure-registry %s to allow it", registry.ErrPlainHTTP, host, host)
	}
	return g.inner.RoundTrip(req)
}

// fastOptions are ggcr options for kc over t that never retry.
func fastOptions(kc authn.Keychain, t http.RoundTripper) []remote.Option {
	return []remote.Option{
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(t),
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}
}

func keychain(c registry.Client) authn.Keychain {
	if c.Keychain == nil {
		return authn.DefaultKeychain
	}
	return c.Keychain
}

func newRemoteCache(s Store, onFail func(error)) (*remoteCache, error) {
	repo, err := s.Registry.Repository(s.Repo)
	if err != nil {
		return nil, fmt.Errorf("reading the cache repository: %w", err)
	}
	p, err := remote.NewPuller(fastOptions(keychain(s.Registry), fastTransport(s.Registry.Insecure))...)
	if err != nil {
		return nil, fmt.Errorf("preparing to read %s: %w", repo, err)
	}
	return &remoteCache{repo: repo, puller: p, onFail: onFail, sem: make(chan struct{}, 8)}, nil
}

// fail turns rc off, telling onFail once.
func (rc *remoteCache) fail(err error) {
	rc.off.Store(true)
	rc.once.Do(func() { rc.onFail(registry.Explain(rc.repo.Registry, err)) })
}

// get fetches action's entry into d: errMiss when Repo has none that is
// whole, another error when Repo failed (and is now off). It also returns
// how many bytes of output it downloaded.
func (rc *remoteCache) get(ctx context.Context, d disk, action string) (entry, int64, error) {
	if rc.off.Load() {
		return entry{}, 0, errMiss
	}
	rc.sem <- struct{}{}
	defer func() { <-rc.sem }()
	e, n, err := rc.fetch(ctx, d, action)
	switch {
	case err == nil, errors.Is(err, errMiss):
		return e, n, err
	case ctx.Err() != nil:
		return entry{}, 0, errMiss // the go command went away, not the registry
	default:
		rc.fail(err)
		return entry{}, 0, err
	}
}

func (rc *remoteCache) fetch(ctx context.Context, d disk, action string) (entry, int64, error) {
	mctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	desc, err := rc.puller.Get(mctx, rc.repo.Tag(action))
	if isNotFound(err) {
		return entry{}, 0, errMiss
	}
	if err != nil {
		return entry{}, 0, fmt.Errorf("looking up %s:%s: %w", rc.repo, action, err)
	}
	out, size, ok := parseEntryManifest(desc.Manifest, action)
	if !ok {
		return entry{}, 0, errMiss
	}
	e := entry{action: action, output: out, size: size, time: time.Now()}
	if fi, err := os.Stat(d.outputPath(out)); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
		// Another action's output, verified when it was written.
		return e, 0, d.record(e, false)
	}
	bctx, cancel := context.WithTimeout(ctx, RequestTimeout+time.Duration(size/MinBlobRate)*time.Second)
	defer cancel()
	l, err := rc.puller.Layer(bctx, rc.repo.Digest("sha256:"+out))
	if err != nil {
		return entry{}, 0, fmt.Errorf("fetching output %s: %w", out, err)
	}
	_, err = d.storeOutputWith(out, size, func(w io.Writer) (int64, error) {
		r, err := l.Compressed()
		if err != nil {
			return 0, err
		}
		defer r.Close()
		return io.Copy(w, io.LimitReader(r, size+1))
	})
	switch {
	case isNotFound(err), errors.Is(err, ErrMismatch), isDigestMismatch(err):
		return entry{}, 0, errMiss
	case err != nil:
		return entry{}, 0, fmt.Errorf("fetching output %s: %w", out, err)
	}
	if err := d.record(e, false); err != nil {
		return entry{}, 0, err
	}
	return e, size, nil
}

// parseEntryManifest checks that m is an entry of action, and returns its
// output and size.
func parseEntryManifest(m []byte, action string) (string, int64, bool) {
	var mf v1.Manifest
	if err := json.Unmarshal(m, &mf); err != nil {
		return "", 0, false
	}
	if mf.ArtifactType != ArtifactType || mf.Annotations[ActionAnnotation] != action || len(mf.Layers) != 1 {
		return "", 0, false
	}
	l := mf.Layers[0]
	if l.MediaType != OutputMediaType || l.Digest.Algorithm != "sha256" || !isHexID(l.Digest.Hex) ||
		l.Size < 0 || l.Size > MaxOutputSize {
		return "", 0, false
	}
	return l.Digest.Hex, l.Size, true
}

// entryManifest is the manifest of e in Repo.
func entryManifest(e entry) ([]byte, error) {
	empty, _, err := v1.SHA256(strings.NewReader(emptyJSON))
	if err != nil {
		return nil, fmt.Errorf("hashing the empty config: %w", err)
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        v1.Descriptor{MediaType: emptyMediaType, Size: int64(len(emptyJSON)), Digest: empty},
		Layers: []v1.Descriptor{{
			MediaType: OutputMediaType,
			Size:      e.size,
			Digest:    v1.Hash{Algorithm: "sha256", Hex: e.output},
		}},
		Annotations: map[string]string{ActionAnnotation: e.action},
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("writing the manifest of %s: %w", e.action, err)
	}
	return b, nil
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// isDigestMismatch reports whether ggcr refused a blob whose content does
// not match its digest.
func isDigestMismatch(err error) bool {
	return err != nil && strings.Contains(err.Error(), "error verifying")
}
