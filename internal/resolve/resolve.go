// Package resolve replaces each ko://IMPORT/PATH string in YAML documents
// with the digest of the image built from that main package and pushed, as
// ko resolve does.
package resolve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/pipeline"
	"github.com/buildercli/builder/internal/source"
)

// Options are what the user asked a resolve for.
type Options struct {
	// Files are the YAML inputs: files, directories (their *.yaml, *.yml
	// and *.json files) or Stdin.
	Files []string
	// Repo is the repository each image goes under, as Repo/NAME, where
	// NAME is the service's name (its settings' name, else the package's).
	Repo string
	// Build describes every image; its Repo is Repo, as every image's
	// parent.
	Build build.Request
	// Jobs is how many images are pushed at a time; 4 when 0. (They are
	// built together: see build.All.)
	Jobs int
	// CacheRepo, when set, is a registry repository that shares the Go
	// build cache between runners, as publish's (see pipeline.GoCache);
	// env.Self serves it.
	CacheRepo string
}

// image is one distinct main package the YAML names, and what became of it.
type image struct {
	path  string // the import path after ko://
	where string // where it is first named
	src   source.Package
	repo  name.Repository // REPO/NAME, once planned
	built build.Result
	ref   name.Digest
}

// Resolve reads the YAML o names, builds and pushes by digest (no tag) the
// image of each distinct ko:// path once, and writes the YAML to stdout
// with each ko:// string replaced by REPO/NAME@sha256:DIGEST. Bad input
// (a file that cannot be read, YAML that does not parse, a path that is no
// main package) fails before anything is built; nothing is pushed unless
// every image built. stdout gets nothing unless everything succeeded.
func Resolve(ctx context.Context, o Options, stdin io.Reader, stdout io.Writer, env build.Env) error {
	if len(o.Files) == 0 {
		return fmt.Errorf("no YAML to resolve: pass -f FILE, -f DIR or -f - for stdin")
	}
	if o.Repo == "" {
		return fmt.Errorf("no repository to push to: pass --repo REGISTRY/PATH or set KO_DOCKER_REPO (or BUILDER_REPO)")
	}
	if _, err := env.Registry.Repository(o.Repo); err != nil {
		return err
	}
	if err := o.Build.Validate(); err != nil {
		return err
	}
	if err := pipeline.CheckCacheRepo(o.CacheRepo, env); err != nil {
		return err
	}
	files, err := readInputs(o.Files, stdin)
	if err != nil {
		return err
	}
	rs := refs(files)
	images, byPath, err := locate(ctx, rs, env)
	if err != nil {
		return err
	}
	env, done, err := env.WithScratch()
	if err != nil {
		return err
	}
	defer done()
	if len(images) == 0 {
		o.CacheRepo = "" // nothing compiles: the shared cache is not asked
	}
	goCache := pipeline.StartGoCache(ctx, o.CacheRepo, sources(images), o.Build.Platform, env)
	defer goCache.Cancel()
	if err := buildAll(ctx, images, o, env, goCache); err != nil {
		return err
	}
	// The new outputs are shared while the images are pushed.
	defer goCache.Share(ctx, env)()
	if err := pushAll(ctx, images, o.jobs(), env); err != nil {
		return err
	}
	for _, r := range rs {
		r.node.Value = byPath[strings.TrimPrefix(r.node.Value, Scheme)].ref.String()
	}
	var out bytes.Buffer
	if err := encode(&out, files); err != nil {
		return err
	}
	_, err = stdout.Write(out.Bytes())
	return err
}

func (o Options) jobs() int {
	if o.Jobs <= 0 {
		return 4
	}
	return o.Jobs
}

// sources are the main packages of images, in order.
func sources(images []*image) []source.Package {
	srcs := make([]source.Package, len(images))
	for i, im := range images {
		srcs[i] = im.src
	}
	return srcs
}

// locate finds the main package of each distinct path rs name, in the
// order first named; byPath maps every path named to its image, two
// spellings of one package (an import path and a directory) to one.
func locate(ctx context.Context, rs []ref, env build.Env) (images []*image, byPath map[string]*image, err error) {
	byPath = map[string]*image{}
	byDir := map[string]*image{}
	for _, r := range rs {
		p := strings.TrimPrefix(r.node.Value, Scheme)
		if byPath[p] != nil {
			continue
		}
		if p == "" {
			return nil, nil, fmt.Errorf("%s: %s names no package: write ko://IMPORT/PATH", r.where, Scheme)
		}
		src, err := source.Read(ctx, p, env.KoConfig)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s%s: %w", r.where, Scheme, p, err)
		}
		if im := byDir[src.Dir]; im != nil {
			byPath[p] = im
			continue
		}
		im := &image{path: p, where: r.where, src: src}
		images = append(images, im)
		byPath[p], byDir[src.Dir] = im, im
	}
	return images, byPath, nil
}
