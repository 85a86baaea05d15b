// Package build turns a Go main package into a container image: it reads the
// checkout and .ko.yaml, compiles a static binary, lays it on the base and
// writes the result where it was asked.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/koconfig"
	"github.com/buildercli/builder/internal/layers"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/vcs"
)

// Result is a built image and how it is named.
type Result struct {
	Image   v1.Image
	Digest  v1.Hash
	Ref     name.Tag
	Version string
}

// Run builds the image and writes it to the tarball and OCI layout the
// options name. Notes go to log.
func Run(ctx context.Context, o Options, log io.Writer) (Result, error) {
	if o.Tarball == "" && o.OCILayout == "" {
		return Result{}, fmt.Errorf("nothing to write: add --tarball FILE or --oci-layout DIR (or use builder publish)")
	}
	work, err := os.MkdirTemp("", "builder-")
	if err != nil {
		return Result{}, fmt.Errorf("making a build directory: %w", err)
	}
	defer os.RemoveAll(work)
	res, err := Image(ctx, o, work, log)
	if err != nil {
		return Result{}, err
	}
	return res, Write(res, o, log)
}

// Write writes a built image to the tarball and OCI layout o names, if any.
func Write(res Result, o Options, log io.Writer) error {
	if o.Tarball != "" {
		if err := push.Tarball(res.Image, []name.Tag{res.Ref}, o.Tarball); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s (%s)\n", o.Tarball, res.Ref)
	}
	if o.OCILayout != "" {
		if err := push.Layout(res.Image, res.Ref, o.OCILayout); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s (%s)\n", o.OCILayout, res.Ref.TagStr())
	}
	return nil
}

// Image builds the image the options describe, without writing it anywhere.
// The binary is compiled into work, which must outlive the image's use: its
// layer is read from there each time it is streamed.
func Image(ctx context.Context, o Options, work string, log io.Writer) (Result, error) {
	o.Trace.Mark("start")
	if err := o.validate(); err != nil {
		return Result{}, err
	}
	src, err := locate(o)
	if err != nil {
		return Result{}, err
	}
	cfg, err := koconfig.Load(src.koConfig)
	if err != nil {
		return Result{}, err
	}
	for _, f := range cfg.Ignored {
		fmt.Fprintf(log, "note: %s: builder ignores %s\n", src.koConfig, f)
	}
	if cfg.DefaultBaseImage != "" && o.Base == "" {
		o.Base = cfg.DefaultBaseImage
		if err := o.validate(); err != nil {
			return Result{}, fmt.Errorf("%s: defaultBaseImage: %w", src.koConfig, err)
		}
	}
	platform, err := pickPlatform(o, cfg)
	if err != nil {
		return Result{}, err
	}
	git, err := ReadGit(ctx, o)
	if err != nil {
		return Result{}, err
	}
	o.Trace.Mark("config and git")
	m, err := readMeta(&o, git, log)
	if err != nil {
		return Result{}, err
	}
	repo := o.Repo
	if repo == "" {
		repo = src.name
	}
	ref, err := name.NewTag(repo + ":" + m.tag)
	if err != nil {
		return Result{}, fmt.Errorf("naming the image %s:%s: %w", repo, m.tag, err)
	}
	fmt.Fprintf(log, "building %s %s for %s\n", src.pkg, m.version, platform)

	binPath, unlock, err := binaryPath(o, src, platform, work)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	if err := compile(ctx, o, cfg, src, platform, m, binPath); err != nil {
		return Result{}, err
	}
	o.Trace.Mark("go build")
	img, err := assemble(o, src, platform, m, binPath, cache.Cache{Dir: o.CacheDir, Scratch: work})
	if err != nil {
		return Result{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("computing the image digest: %w", err)
	}
	o.Trace.Mark("layers and config")
	return Result{Image: img, Digest: d, Ref: ref, Version: m.version}, nil
}

// ReadGit returns o.Git, or reads the state of the checkout that holds the
// package. A machine without git gives an empty Info.
func ReadGit(ctx context.Context, o Options) (vcs.Info, error) {
	if o.Git != nil {
		return *o.Git, nil
	}
	pkg := o.Path
	if pkg == "" {
		pkg = DefaultPath
	}
	git, err := vcs.Read(ctx, pkg)
	if err != nil && !errors.Is(err, vcs.ErrNoGit) {
		return vcs.Info{}, fmt.Errorf("reading the git state of %s: %w", pkg, err)
	}
	return git, nil
}

func compile(ctx context.Context, o Options, cfg *koconfig.Config, src source, p v1.Platform, m meta, out string) error {
	b, found := cfg.Find(src.pkgDir)
	ldflags := b.Ldflags
	if !found && ldflags == nil {
		ldflags = defaultLdflags
	}
	data := m.templateData(o.Environ)
	flags, err := koconfig.Render(b.Flags, data)
	if err != nil {
		return fmt.Errorf("%s: flags: %w", src.koConfig, err)
	}
	ld, err := koconfig.Render(ldflags, data)
	if err != nil {
		return fmt.Errorf("%s: ldflags: %w", src.koConfig, err)
	}
	dir := src.modRoot
	if found {
		dir = filepath.Join(cfg.Dir, b.Dir)
	}
	rel, err := filepath.Rel(dir, src.pkgDir)
	if err != nil {
		return fmt.Errorf("locating %s from %s: %w", src.pkgDir, dir, err)
	}
	return gobuild.Build(ctx, gobuild.Options{
		Dir: dir, Package: "./" + filepath.ToSlash(rel), Platform: p,
		Env: o.Environ, BuildEnv: b.Env, Flags: flags, Ldflags: strings.Join(ld, " "), Output: out,
	})
}

func assemble(o Options, src source, p v1.Platform, m meta, binPath string, c cache.Cache) (v1.Image, error) {
	entries, err := base.Entries()
	if err != nil {
		return nil, err
	}
	baseLayer, err := cachedLayer(c, entries)
	if err != nil {
		return nil, fmt.Errorf("building the base layer: %w", err)
	}
	baseImg, err := base.ImageWith(p, baseLayer)
	if err != nil {
		return nil, err
	}
	baseDigest, err := baseImg.Digest()
	if err != nil {
		return nil, fmt.Errorf("computing the base digest: %w", err)
	}
	entrypoint := "/usr/local/bin/" + src.name
	e, err := layers.BinaryEntry(binPath, entrypoint)
	if err != nil {
		return nil, err
	}
	bin, err := cachedLayer(c, []layers.Entry{e})
	if err != nil {
		return nil, fmt.Errorf("building the application layer: %w", err)
	}
	port := o.Port
	if port == 0 {
		port = DefaultPort
	}
	env := append([]string{"PORT=" + strconv.Itoa(port), "GIN_MODE=release"}, o.Env...)
	return layers.Append(baseImg, bin, layers.Spec{
		Entrypoint:  entrypoint,
		User:        o.User,
		Env:         env,
		Ports:       []string{strconv.Itoa(port) + "/tcp"},
		Labels:      m.labels(src.name, base.Name, baseDigest.String(), o.Labels),
		Created:     m.created,
		Platform:    p,
		Healthcheck: "healthcheck",
		History:     "builder: go build " + src.pkg,
	})
}

func cachedLayer(c cache.Cache, entries []layers.Entry) (v1.Layer, error) {
	tar, err := layers.Tar(entries)
	if err != nil {
		return nil, err
	}
	return c.Layer(tar)
}

func pickPlatform(o Options, cfg *koconfig.Config) (v1.Platform, error) {
	s := o.Platform
	if s == "" && len(cfg.DefaultPlatforms) > 0 {
		s = strings.Join(cfg.DefaultPlatforms, ",")
	}
	if s == "" {
		s = "linux/" + o.HostArch
	}
	if strings.Contains(s, ",") || s == "all" {
		return v1.Platform{}, fmt.Errorf("platform %q: one platform at a time for now; pick one, e.g. --platform linux/amd64", s)
	}
	return gobuild.ParsePlatform(s)
}

// source is where the package and its settings are.
type source struct {
	pkg      string // as given, "./app"
	pkgDir   string // absolute
	name     string // the binary's name: the directory's
	modRoot  string // directory of the enclosing go.mod
	koConfig string // path of .ko.yaml
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
	root := dir
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return source{}, fmt.Errorf("path %s is not inside a Go module: no go.mod above it", pkg)
		}
		root = parent
	}
	ko := o.KoConfig
	if ko == "" {
		ko = filepath.Join(root, ".ko.yaml")
	}
	return source{pkg: pkg, pkgDir: dir, name: filepath.Base(dir), modRoot: root, koConfig: ko}, nil
}
