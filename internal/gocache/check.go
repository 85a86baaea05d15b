package gocache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/buildercli/builder/internal/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// CheckTimeout bounds a Check.
var CheckTimeout = 5 * time.Second

// Check tells, within CheckTimeout, whether Repo can be read and written:
// it lists one tag and starts a blob upload (then cancels it), with push
// credentials. A returned error is one line that says what is wrong, for
// the caller to print before building without the shared cache.
func (s Store) Check(ctx context.Context) error {
	if s.Repo == "" {
		return nil
	}
	repo, err := s.Registry.Repository(s.Repo)
	if err != nil {
		return fmt.Errorf("reading the cache repository: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	auth, err := keychain(s.Registry).Resolve(repo)
	if err != nil {
		return fmt.Errorf("finding credentials for %s: %w", repo, err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, fastTransport(s.Registry.Insecure), []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return fmt.Errorf("checking the Go build cache at %s: %w", repo, registry.Explain(repo.Registry, err))
	}
	c := &http.Client{Transport: rt}
	base := url.URL{Scheme: repo.Scheme(), Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr()}
	if err := checkRead(ctx, c, base); err != nil {
		return fmt.Errorf("reading the Go build cache at %s: %w", repo, registry.Explain(repo.Registry, err))
	}
	if err := checkWrite(ctx, c, base); err != nil {
		return fmt.Errorf("writing the Go build cache at %s: %w", repo, registry.Explain(repo.Registry, err))
	}
	return nil
}

// checkRead lists one tag; a repository not yet created has none.
func checkRead(ctx context.Context, c *http.Client, base url.URL) error {
	u := base
	u.Path += "/tags/list"
	u.RawQuery = "n=1"
	resp, err := do(ctx, c, http.MethodGet, u.String())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return transport.CheckError(resp, http.StatusOK, http.StatusNotFound)
}

// checkWrite starts a blob upload, then cancels it.
func checkWrite(ctx context.Context, c *http.Client, base url.URL) error {
	u := base
	u.Path += "/blobs/uploads/"
	resp, err := do(ctx, c, http.MethodPost, u.String())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusAccepted); err != nil {
		return err
	}
	loc, err := resp.Location()
	if err != nil {
		return nil // started; there is nothing to cancel by
	}
	if cancel, err := do(ctx, c, http.MethodDelete, loc.String()); err == nil {
		_ = cancel.Body.Close() // a registry that keeps the upload expires it
	}
	return nil
}

func do(ctx context.Context, c *http.Client, method, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("preparing %s %s: %w", method, u, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, ue.Err
		}
		return nil, err
	}
	return resp, nil
}
