package build

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/koconfig"
	"github.com/buildercli/builder/internal/layers"
)

// render settles the go build settings: .ko.yaml's build for the package
// (or builder's defaults), its templates rendered.
func (pl *plan) render() error {
	b, found := pl.cfg.Find(pl.src.pkgDir)
	ldflags := b.Ldflags
	if !found && ldflags == nil {
		ldflags = defaultLdflags
	}
	data := pl.meta.templateData(pl.o.Environ)
	flags, err := koconfig.Render(b.Flags, data)
	if err != nil {
		return fmt.Errorf("%s: flags: %w", pl.src.koConfig, err)
	}
	ld, err := koconfig.Render(ldflags, data)
	if err != nil {
		return fmt.Errorf("%s: ldflags: %w", pl.src.koConfig, err)
	}
	dir := pl.src.modRoot
	if found {
		dir = filepath.Join(pl.cfg.Dir, b.Dir)
	}
	rel, err := filepath.Rel(dir, pl.src.pkgDir)
	if err != nil {
		return fmt.Errorf("locating %s from %s: %w", pl.src.pkgDir, dir, err)
	}
	pl.kob = b
	pl.kob.Dir = dir
	pl.settings = Settings{Package: "./" + filepath.ToSlash(rel), Flags: flags, Ldflags: strings.Join(ld, " "), Env: b.Env}
	return nil
}

// buildPlatform compiles the binary for p and lays it on the base's image.
func (pl *plan) buildPlatform(ctx context.Context, p v1.Platform, work string) (PlatformImage, error) {
	baseImg, baseDigest, err := pl.base.Image(p)
	if err != nil {
		return PlatformImage{}, err
	}
	if err := pl.checkUser(baseImg); err != nil {
		return PlatformImage{}, err
	}
	bin, unlock, err := binaryPath(pl.o, pl.src, p, work)
	if err != nil {
		return PlatformImage{}, err
	}
	defer unlock()
	opts := gobuild.Options{
		Dir: pl.kob.Dir, Package: pl.settings.Package, Platform: p, Env: pl.o.Environ,
		BuildEnv: pl.kob.Env, Flags: pl.settings.Flags, Ldflags: pl.settings.Ldflags, Output: bin,
	}
	if pl.o.CacheDir == "" {
		err = gobuild.Build(ctx, opts)
	} else {
		// The binary's path is stable: an unchanged source tree and build
		// skip go build altogether.
		var fresh bool
		fresh, err = gobuild.BuildIfChanged(ctx, opts)
		if fresh {
			pl.o.Trace.Mark("binary up to date " + p.String())
		}
	}
	if err != nil {
		return PlatformImage{}, err
	}
	pl.o.Trace.Mark("go build " + p.String())
	img, err := pl.assemble(baseImg, baseDigest, p, bin)
	if err != nil {
		return PlatformImage{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return PlatformImage{}, fmt.Errorf("computing the image digest: %w", err)
	}
	return PlatformImage{Platform: p, Image: img, Digest: d, BaseDigest: baseDigest, Binary: bin}, nil
}

// checkUser refuses an image that would run as root, unless --allow-root:
// --user 0, or no --user on a base that runs as root.
func (pl *plan) checkUser(baseImg v1.Image) error {
	if pl.o.User != "" {
		if u, _, _ := strings.Cut(pl.o.User, ":"); pl.base.Builtin() && !isNumber(u) {
			if _, ok := base.Users[u]; !ok {
				return fmt.Errorf("user %q is not in the built-in base's /etc/passwd (root, nonroot, nobody): use a numeric uid[:gid]", pl.o.User)
			}
		}
		return nil
	}
	cf, err := baseImg.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the config of base %s: %w", pl.base.Name, err)
	}
	if isRoot(cf.Config.User) && !pl.o.AllowRoot {
		return fmt.Errorf("base %s runs as root (user %q): pass --user %d:%d or another non-root user, or --allow-root if you really mean it",
			pl.base.Name, cf.Config.User, base.NonrootUID, base.NonrootUID)
	}
	return nil
}

func (pl *plan) assemble(baseImg v1.Image, baseDigest v1.Hash, p v1.Platform, binPath string) (v1.Image, error) {
	entrypoint := "/usr/local/bin/" + pl.src.name
	e, err := layers.BinaryEntry(binPath, entrypoint)
	if err != nil {
		return nil, err
	}
	// The build ID names the binary's content, so that an unchanged binary
	// is found in the cache without being read again.
	key := ""
	if id, err := gobuild.BuildID(binPath); err == nil {
		key = fmt.Sprintf("go-binary:%s:%s:%o", id, entrypoint, e.Mode)
	}
	tar, err := layers.Tar([]layers.Entry{e})
	if err != nil {
		return nil, err
	}
	bin, err := pl.cache.KeyedLayer(key, tar)
	if err != nil {
		return nil, fmt.Errorf("building the application layer: %w", err)
	}
	port := pl.o.Port
	if port == 0 {
		port = DefaultPort
	}
	env := append([]string{"PORT=" + strconv.Itoa(port), "GIN_MODE=release"}, pl.o.Env...)
	return layers.Append(baseImg, bin, layers.Spec{
		Entrypoint:  entrypoint,
		User:        pl.o.User,
		Env:         env,
		Ports:       []string{strconv.Itoa(port) + "/tcp"},
		Labels:      pl.meta.labels(pl.src.name, pl.base.Name, baseDigest.String(), pl.o.Labels),
		Created:     pl.meta.created,
		Platform:    p,
		Healthcheck: "healthcheck",
		History:     "builder: go build " + pl.src.pkg,
	})
}

func cachedLayer(c cache.Cache, entries []layers.Entry) (v1.Layer, error) {
	tar, err := layers.Tar(entries)
	if err != nil {
		return nil, err
	}
	return c.Layer(tar)
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
