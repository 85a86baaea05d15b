package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/mod/modfile"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/bases"
	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/koconfig"
	"github.com/buildercli/builder/internal/push"
)

// plan is everything a build settles before it compiles.
type plan struct {
	o         Options
	src       source
	cfg       *koconfig.Config
	kob       koconfig.Build
	meta      meta
	base      *bases.Base
	platforms []v1.Platform
	ref       name.Tag
	settings  Settings
	cache     cache.Cache
}

func newPlan(ctx context.Context, o Options, work string, log io.Writer) (*plan, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	pl := &plan{o: o, cache: cache.Cache{Dir: o.CacheDir, Scratch: work}}
	var err error
	if pl.src, err = locate(o); err != nil {
		return nil, err
	}
	if pl.cfg, err = koconfig.Load(pl.src.koConfig); err != nil {
		return nil, err
	}
	for _, f := range pl.cfg.Ignored {
		fmt.Fprintf(log, "note: %s: builder ignores %s\n", pl.src.koConfig, f)
	}
	git, err := ReadGit(ctx, o)
	if err != nil {
		return nil, err
	}
	if pl.meta, err = readMeta(&o, git, log); err != nil {
		return nil, err
	}
	if pl.ref, err = pl.name(); err != nil {
		return nil, err
	}
	if err := pl.render(); err != nil {
		return nil, err
	}
	registry := o.Registry
	if registry.Transport == nil {
		registry.Transport = push.NewTransport(nil, o.Insecure)
	}
	if pl.base, err = bases.Resolve(ctx, pl.baseSpec(), bases.Options{
		CacheDir: o.CacheDir, Remote: registry.Options(), Insecure: o.Insecure, Builtin: pl.builtinBase(), Log: log,
	}); err != nil {
		return nil, err
	}
	if pl.platforms, err = pl.pickPlatforms(); err != nil {
		return nil, err
	}
	if len(pl.platforms) > 1 && o.Tarball != "" {
		return nil, errTarballIndex
	}
	return pl, nil
}

func (pl *plan) name() (name.Tag, error) {
	repo := pl.o.Repo
	if repo == "" {
		repo = strings.ToLower(pl.src.name)
	}
	ref, err := name.NewTag(repo + ":" + pl.meta.tag)
	if err != nil {
		return name.Tag{}, fmt.Errorf("naming the image %s:%s: %w", repo, pl.meta.tag, err)
	}
	return ref, nil
}

// baseSpec is --base, else .ko.yaml's baseImageOverrides entry for the
// package's import path, else its defaultBaseImage, else the built-in base.
func (pl *plan) baseSpec() string {
	if pl.o.Base != "" {
		return pl.o.Base
	}
	if b, ok := pl.cfg.BaseImageOverrides[pl.src.importPath]; ok {
		return b
	}
	return pl.cfg.DefaultBaseImage
}

// builtinBase makes the built-in base with its layer from the cache, made
// once however many platforms use it.
func (pl *plan) builtinBase() bases.Builtin {
	layer := sync.OnceValues(func() (v1.Layer, error) {
		entries, err := base.Entries()
		if err != nil {
			return nil, err
		}
		return cachedLayer(pl.cache, entries)
	})
	return func(p v1.Platform) (v1.Image, error) {
		l, err := layer()
		if err != nil {
			return nil, fmt.Errorf("building the base layer: %w", err)
		}
		return base.ImageWith(p, l)
	}
}

// pickPlatforms reads --platform, else .ko.yaml's defaultPlatforms, else
// linux on the host's architecture; "all" is every platform the base offers.
// Each must be one the base has, checked before anything is compiled.
func (pl *plan) pickPlatforms() ([]v1.Platform, error) {
	s := pl.o.Platform
	if s == "" {
		s = strings.Join(pl.cfg.DefaultPlatforms, ",")
	}
	if s == "" {
		s = "linux/" + pl.o.HostArch
	}
	offered, err := pl.base.Platforms()
	if err != nil {
		return nil, err
	}
	var ps []v1.Platform
	if s == "all" {
		for _, p := range offered {
			if _, err := gobuild.ParsePlatform(p.String()); err == nil {
				ps = append(ps, p)
			}
		}
	} else {
		for _, one := range strings.Split(s, ",") {
			p, err := gobuild.ParsePlatform(strings.TrimSpace(one))
			if err != nil {
				return nil, err
			}
			ps = append(ps, p)
		}
	}
	ps = dedupe(ps)
	if len(ps) > 1 && len(offered) == 1 && !pl.base.Builtin() {
		return nil, fmt.Errorf("base %s is a single-platform image (%s): it cannot make an image for %s; use a multi-platform base or one --platform", pl.base.Name, offered[0], bases.List(ps))
	}
	for _, p := range ps {
		if !bases.Offers(offered, p) {
			return nil, fmt.Errorf("base %s has no image for %s (it offers %s)", pl.base.Name, p, bases.List(offered))
		}
	}
	return ps, nil
}

// dedupe sorts platforms and drops repeats, so that the index is the same
// whatever order they were asked in.
func dedupe(ps []v1.Platform) []v1.Platform {
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
	out := ps[:0]
	for i, p := range ps {
		if i == 0 || p.String() != ps[i-1].String() {
			out = append(out, p)
		}
	}
	return out
}

// source is where the package and its settings are.
type source struct {
	pkg        string // as given, "./app"
	pkgDir     string // absolute
	name       string // the binary's name: the directory's
	modRoot    string // directory of the enclosing go.mod
	importPath string // the package's import path
	koConfig   string // path of .ko.yaml
}

func locate(o Options) (source, error) {
	pkg := o.Path
	if pkg == "" {
		pkg = DefaultPath
	}
	dir, err := filepath.Abs(pkg)
	if err != nil {
		return source{}, fmt.Errorf("resolving %s: %w", pkg, err)
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return source{}, fmt.Errorf("path %s does not exist: give the directory of a main package, e.g. ./app", pkg)
	}
	if err != nil {
		return source{}, fmt.Errorf("reading %s: %w", pkg, err)
	}
	if !fi.IsDir() {
		return source{}, fmt.Errorf("path %s is not a directory: give the directory of a main package, e.g. ./app", pkg)
	}
	root, modPath, err := findModule(dir)
	if err != nil {
		return source{}, fmt.Errorf("path %s: %w", pkg, err)
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return source{}, fmt.Errorf("locating %s in %s: %w", dir, root, err)
	}
	ko := o.KoConfig
	if ko == "" {
		ko = filepath.Join(root, ".ko.yaml")
	}
	return source{pkg: pkg, pkgDir: dir, name: filepath.Base(dir), modRoot: root,
		importPath: strings.TrimSuffix(modPath+"/"+filepath.ToSlash(rel), "/."), koConfig: ko}, nil
}

// findModule returns the directory of the go.mod above dir and the module
// path it declares.
func findModule(dir string) (string, string, error) {
	for root := dir; ; {
		data, err := os.ReadFile(filepath.Join(root, "go.mod"))
		if err == nil {
			return root, modfile.ModulePath(data), nil
		}
		parent := filepath.Dir(root)
		if parent == root {
			return "", "", errors.New("not inside a Go module: no go.mod above it")
		}
		root = parent
	}
}
