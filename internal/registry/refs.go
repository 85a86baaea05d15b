package registry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// tagGrammar is the distribution spec's grammar for a tag.
var tagGrammar = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ValidateTag checks t against the registry's tag grammar.
func ValidateTag(t string) error {
	if !tagGrammar.MatchString(t) {
		return fmt.Errorf("tag %q is not a valid image tag: use letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'", t)
	}
	return nil
}

// insecureOption returns name.Insecure when registry (host[:port]) is in
// insecure, so that a reference to it is reached over plain HTTP.
func insecureOption(registry string, insecure []string) []name.Option {
	for _, h := range insecure {
		if r, err := name.NewRegistry(h); err == nil && r.RegistryStr() == registry {
			return []name.Option{name.Insecure}
		}
	}
	return nil
}

// Repository reads a repository to push to, fully spelt out
// (REGISTRY/PATH), reached over plain HTTP when c allows it.
func (c Client) Repository(s string) (name.Repository, error) {
	if err := ValidateRepository(s); err != nil {
		return name.Repository{}, err
	}
	repo, err := name.NewRepository(s, name.StrictValidation)
	if err == nil {
		repo, err = name.NewRepository(s, append(insecureOption(repo.RegistryStr(), c.Insecure), name.StrictValidation)...)
	}
	if err != nil {
		return name.Repository{}, fmt.Errorf("repository %q is not a valid image name: use lowercase REGISTRY/PATH, e.g. ghcr.io/acme/app", s)
	}
	return repo, nil
}

// Reference reads an image reference (a tag or a digest; Docker Hub's
// defaults apply), reached over plain HTTP when c allows it.
func (c Client) Reference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err == nil {
		ref, err = name.ParseReference(s, insecureOption(ref.Context().RegistryStr(), c.Insecure)...)
	}
	return ref, err
}

// Registry reads a registry's host[:port], reached over plain HTTP when c
// allows it.
func (c Client) Registry(s string) (name.Registry, error) {
	reg, err := name.NewRegistry(s, append(insecureOption(s, c.Insecure), name.StrictValidation)...)
	if err != nil {
		return name.Registry{}, fmt.Errorf("registry %q is not a valid host[:port]", s)
	}
	return reg, nil
}

// Head returns the descriptor ref names in its registry.
func (c Client) Head(ctx context.Context, ref name.Reference) (*v1.Descriptor, error) {
	desc, err := remote.Head(ref, append(c.Options(), remote.WithContext(ctx))...)
	if err != nil {
		return nil, Explain(ref.Context().Registry, err)
	}
	return desc, nil
}

// Get reads the manifest ref names, an image's or an index's.
func (c Client) Get(ctx context.Context, ref name.Reference) (*remote.Descriptor, error) {
	desc, err := remote.Get(ref, append(c.Options(), remote.WithContext(ctx))...)
	if err != nil {
		return nil, Explain(ref.Context().Registry, err)
	}
	return desc, nil
}

// IsAuth reports whether err says the registry refused the credentials or
// access.
func IsAuth(err error) bool { return errors.Is(err, ErrAuth) }

// ShortName is repo as a user writes it: without Docker Hub's registry
// and library/ prefix, which an image named "api" gets, as docker prints it.
func ShortName(repo name.Repository) string {
	if repo.RegistryStr() != name.DefaultRegistry {
		return repo.Name()
	}
	return strings.TrimPrefix(repo.RepositoryStr(), "library/")
}
