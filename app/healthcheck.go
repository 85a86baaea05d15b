package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// healthcheck GETs url and returns nil only if it answers 200 OK within
// timeout. It backs `app healthcheck`, the Docker HEALTHCHECK of an image
// that has no shell or curl.
func healthcheck(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("building request for %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("checking health: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("checking %s: got status %s, want 200 OK", url, resp.Status)
	}
	return nil
}
