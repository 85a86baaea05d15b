package registry

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Retag points tag at the manifest d that the repository already holds.
func (s *Session) Retag(ctx context.Context, d v1.Hash, tag string) error {
	desc, err := s.puller.Get(ctx, s.repo.Digest(d.String()))
	if err != nil {
		return fmt.Errorf("reading %s@%s: %w", s.repo, d, Explain(s.repo.Registry, err))
	}
	if err := s.pusher.Put(ctx, s.repo.Tag(tag), desc); err != nil {
		return fmt.Errorf("tagging %s:%s: %w", s.repo, tag, Explain(s.repo.Registry, err))
	}
	return nil
}
