package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/imagespec"
	"github.com/buildercli/builder/internal/layers"
)

// buildPlatform compiles the binary for p and lays it on the base's image.
func (pl *Planned) buildPlatform(ctx context.Context, p v1.Platform) (PlatformImage, error) {
	baseImg, baseDigest, err := pl.base.Image(p)
	if err != nil {
		return PlatformImage{}, err
	}
	if err := pl.checkUser(baseImg); err != nil {
		return PlatformImage{}, err
	}
	bin, unlock, err := pl.binaryPath(p)
	if err != nil {
		return PlatformImage{}, err
	}
	defer unlock()
	opts := gobuild.Options{
		Dir: pl.kob.Dir, Package: pl.settings.Package, Platform: p, Env: pl.env.Environ,
		BuildEnv: pl.kob.Env, Flags: pl.settings.Flags, Ldflags: pl.settings.Ldflags, Output: bin,
	}
	if !pl.env.Cache.Enabled() {
		err = gobuild.Build(ctx, opts)
	} else {
		// The binary's path is stable: an unchanged source tree and build
		// skip go build altogether.
		var fresh bool
		fresh, err = gobuild.BuildIfChanged(ctx, opts)
		if fresh {
			pl.env.Trace.Mark("binary up to date " + p.String())
		}
	}
	if err != nil {
		return PlatformImage{}, err
	}
	pl.env.Trace.Mark("go build " + p.String())
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
func (pl *Planned) checkUser(baseImg v1.Image) error {
	if pl.req.User != "" {
		if u, _, _ := strings.Cut(pl.req.User, ":"); pl.base.IsBuiltin() && !isNumber(u) {
			if _, ok := base.Users[u]; !ok {
				return fmt.Errorf("user %q is not in the built-in base's /etc/passwd (root, nonroot, nobody): use a numeric uid[:gid]", pl.req.User)
			}
		}
		return nil
	}
	cf, err := baseImg.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the config of base %s: %w", pl.base.Name, err)
	}
	if isRoot(cf.Config.User) && !pl.req.AllowRoot {
		return fmt.Errorf("base %s runs as root (user %q): pass --user %d:%d or another non-root user, or --allow-root if you really mean it",
			pl.base.Name, cf.Config.User, base.NonrootUID, base.NonrootUID)
	}
	return nil
}

func (pl *Planned) assemble(baseImg v1.Image, baseDigest v1.Hash, p v1.Platform, binPath string) (v1.Image, error) {
	entrypoint := "/usr/local/bin/" + pl.src.Name
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
	bin, err := pl.env.Cache.KeyedLayer(key, tar)
	if err != nil {
		return nil, fmt.Errorf("building the application layer: %w", err)
	}
	port := pl.req.Port
	if port == 0 {
		port = DefaultPort
	}
	env := append([]string{"PORT=" + strconv.Itoa(port), "GIN_MODE=release"}, pl.req.Env...)
	return imagespec.Append(baseImg, bin, imagespec.Spec{
		Entrypoint:  entrypoint,
		User:        pl.req.User,
		Env:         env,
		Ports:       []string{strconv.Itoa(port) + "/tcp"},
		Labels:      imagespec.Labels(pl.facts(baseDigest.String()), pl.labels),
		Created:     pl.meta.created,
		Platform:    p,
		Healthcheck: "healthcheck",
		History:     "builder: go build " + pl.src.Path,
	})
}

// binaryPath returns where the binary for p is compiled, and a function
// that releases it: with a cache, a stable path for the package and
// platform, locked until the binary is in the layer cache; without one, in
// the scratch directory.
func (pl *Planned) binaryPath(p v1.Platform) (string, func(), error) {
	if !pl.env.Cache.Enabled() {
		dir := filepath.Join(pl.env.Cache.Scratch, strings.ReplaceAll(p.String(), "/", "-"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("making a build directory: %w", err)
		}
		return filepath.Join(dir, pl.src.Name), func() {}, nil
	}
	dir, unlock, err := pl.env.Cache.BinaryDir(pl.src.Dir + "\x00" + p.String())
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, pl.src.Name), unlock, nil
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
