package build

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/attest"
	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/imagespec"
	"github.com/buildercli/builder/internal/koconfig"
	"github.com/buildercli/builder/internal/layers"
	"github.com/buildercli/builder/internal/source"
)

// Planned is a build that has settled everything it can before it
// compiles.
type Planned struct {
	src       source.Package
	req       Request
	env       Env
	cfg       *koconfig.Config
	kob       koconfig.Build
	svc       service
	meta      meta
	base      *base.Base
	platforms []v1.Platform
	users     map[string]string // by platform: resolveUser's
	ref       name.Tag
	settings  attest.BuildSettings
}

func newPlan(ctx context.Context, src source.Package, req Request, env Env) (*Planned, error) {
	pl := &Planned{src: src, req: req, env: env}
	var err error
	if pl.cfg, err = koconfig.Load(src.KoConfig); err != nil {
		return nil, err
	}
	for _, f := range pl.cfg.Ignored {
		env.Shared.note(env.Log, "%s: builder ignores %s", src.KoConfig, f)
	}
	b, found := pl.cfg.Find(src.Dir)
	if pl.svc, err = settle(src.Name, b.Image, req); err != nil {
		if found {
			return nil, fmt.Errorf("%s: %w", src.KoConfig, err)
		}
		return nil, err
	}
	if pl.svc.health != nil && req.Format != imagespec.FormatDocker {
		env.Shared.note(env.Log, "podman ignores the HEALTHCHECK of an OCI image (docker keeps it): --format docker keeps it for both")
	}
	if req.Format == imagespec.FormatDocker && len(pl.svc.annotations) > 0 {
		return nil, fmt.Errorf("--format docker: a Docker manifest holds no annotations, and the settings or flags give some: use labels, or --format oci")
	}
	if pl.meta, err = readMeta(req, env, src.Git); err != nil {
		return nil, err
	}
	if pl.ref, err = pl.name(); err != nil {
		return nil, err
	}
	if err := pl.render(b, found); err != nil {
		return nil, err
	}
	if pl.base, err = env.Shared.resolve(pl.baseSpec(), func(spec string) (*base.Base, error) {
		return base.Resolve(ctx, spec, base.Options{
			Cache: env.Cache, Registry: env.Registry, Builtin: pl.builtinBase(), Log: env.Log,
		})
	}); err != nil {
		return nil, err
	}
	if pl.platforms, err = pl.base.Select(pl.platformSpec()); err != nil {
		return nil, err
	}
	pl.users = map[string]string{}
	for _, p := range pl.platforms {
		img, d, err := pl.base.Image(p)
		if err != nil {
			return nil, err
		}
		if pl.users[p.String()], err = pl.resolveUser(img, d); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

func (pl *Planned) name() (name.Tag, error) {
	repo := pl.req.Repo
	switch {
	case repo == "":
		repo = strings.ToLower(pl.svc.name)
	case pl.req.RepoIsParent:
		repo += "/" + strings.ToLower(pl.svc.name)
	}
	ref, err := name.NewTag(repo + ":" + pl.meta.tag)
	if err != nil {
		return name.Tag{}, fmt.Errorf("naming the image %s:%s: %w", repo, pl.meta.tag, err)
	}
	return ref, nil
}

// Ref is the image's name and tag.
func (pl *Planned) Ref() name.Tag { return pl.ref }

// Name is the service's name: its binary's and its image's.
func (pl *Planned) Name() string { return pl.svc.name }

// ImportPath is the import path of the service's main package.
func (pl *Planned) ImportPath() string { return pl.src.ImportPath }

// baseSpec is --base, else .ko.yaml's baseImageOverrides entry for the
// package's import path, else its defaultBaseImage, else the built-in base.
func (pl *Planned) baseSpec() string {
	if pl.req.Base != "" {
		return pl.req.Base
	}
	if b, ok := pl.cfg.BaseImageOverrides[pl.src.ImportPath]; ok {
		return b
	}
	return pl.cfg.DefaultBaseImage
}

// platformSpec is --platform, else .ko.yaml's defaultPlatforms, else linux
// on the host's architecture.
func (pl *Planned) platformSpec() string {
	if pl.req.Platform != "" {
		return pl.req.Platform
	}
	if s := strings.Join(pl.cfg.DefaultPlatforms, ","); s != "" {
		return s
	}
	return "linux/" + pl.env.HostArch
}

// builtinBase makes the built-in base with its layer from the cache, made
// once however many platforms use it.
func (pl *Planned) builtinBase() base.BuiltinFunc {
	layer := sync.OnceValues(func() (v1.Layer, error) {
		entries, err := base.Entries()
		if err != nil {
			return nil, err
		}
		tar, err := layers.Tar(entries)
		if err != nil {
			return nil, err
		}
		return pl.env.Cache.Layer(tar)
	})
	return func(p v1.Platform) (v1.Image, error) {
		l, err := layer()
		if err != nil {
			return nil, fmt.Errorf("building the base layer: %w", err)
		}
		return base.BuiltinWith(p, l)
	}
}

// render settles the go build settings: .ko.yaml's build for the package,
// b (or builder's defaults), its templates rendered.
func (pl *Planned) render(b koconfig.Build, found bool) error {
	ldflags := b.Ldflags
	if !found && ldflags == nil {
		ldflags = defaultLdflags
	}
	data := pl.meta.templateData(pl.env.Environ)
	flags, err := koconfig.Render(b.Flags, data)
	if err != nil {
		return fmt.Errorf("%s: flags: %w", pl.src.KoConfig, err)
	}
	ld, err := koconfig.Render(ldflags, data)
	if err != nil {
		return fmt.Errorf("%s: ldflags: %w", pl.src.KoConfig, err)
	}
	dir := pl.src.ModRoot
	if found {
		dir = filepath.Join(pl.cfg.Dir, b.Dir)
	}
	rel, err := filepath.Rel(dir, pl.src.Dir)
	if err != nil {
		return fmt.Errorf("locating %s from %s: %w", pl.src.Dir, dir, err)
	}
	pl.kob = b
	pl.kob.Dir = dir
	pkg := "./" + filepath.ToSlash(rel)
	if rel == "." {
		pkg = "."
	}
	pl.settings = attest.BuildSettings{Package: pkg, Flags: flags, Ldflags: strings.Join(ld, " "), Env: b.Env}
	return nil
}

// Shared is what the services of one run share: the bases resolved, so
// that services built on one base resolve, verify and lay it once, and the
// notes written, so that a note true of several services is written once.
// The zero value is ready; a nil *Shared shares nothing.
type Shared struct {
	bases    memo[string, *base.Base]      // by spec
	accounts memo[v1.Hash, *base.Accounts] // by base image digest

	notesMu sync.Mutex
	notes   map[string]bool
}

// memo keeps what get made by key; its zero value is ready.
type memo[K comparable, V any] struct {
	mu   sync.Mutex // held while a value is made
	made map[K]V
}

// get returns the value kept for k, or makes it with f and keeps it; a
// failure is not kept.
func (m *memo[K, V]) get(k K, f func() (V, error)) (V, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if got, ok := m.made[k]; ok {
		return got, nil
	}
	got, err := f()
	if err != nil {
		return got, err
	}
	if m.made == nil {
		m.made = map[K]V{}
	}
	m.made[k] = got
	return got, nil
}

// resolve returns the base spec names, resolved once.
func (s *Shared) resolve(spec string, resolve func(string) (*base.Base, error)) (*base.Base, error) {
	if s == nil {
		return resolve(spec)
	}
	return s.bases.get(spec, func() (*base.Base, error) { return resolve(spec) })
}

// baseAccounts returns the accounts of the base image whose digest is d,
// read once a run: the services on one base share its /etc/passwd and
// /etc/group. A failed read is not kept.
func (s *Shared) baseAccounts(d v1.Hash, read func() (*base.Accounts, error)) (*base.Accounts, error) {
	if s == nil {
		return read()
	}
	return s.accounts.get(d, read)
}

// note writes "note: " and the formatted text to w, unless it was written
// in this run already.
func (s *Shared) note(w io.Writer, format string, args ...any) {
	line := fmt.Sprintf("note: "+format+"\n", args...)
	if s != nil {
		s.notesMu.Lock()
		defer s.notesMu.Unlock()
		if s.notes[line] {
			return
		}
		if s.notes == nil {
			s.notes = map[string]bool{}
		}
		s.notes[line] = true
	}
	_, _ = io.WriteString(w, line)
}
