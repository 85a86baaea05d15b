package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/imagespec"
	"github.com/buildercli/builder/internal/layers"
	"github.com/buildercli/builder/internal/probe"
)

// job is the image of one plan for one platform, on its way.
type job struct {
	pl       *Planned
	platform v1.Platform
	opts     gobuild.Options
	// unlock releases the binary's path; probe waits for the probe's
	// layer (nil when the image has none).
	unlock func()
	probe  func() (v1.Layer, error)
}

// prepare settles where and how the binary for p is compiled, and starts
// building the probe's layer when the image has one.
func (pl *Planned) prepare(ctx context.Context, p v1.Platform) (*job, error) {
	bin, unlock, err := pl.binaryPath(p)
	if err != nil {
		return nil, err
	}
	j := &job{pl: pl, platform: p, unlock: unlock, probe: func() (v1.Layer, error) { return nil, nil }}
	if pl.svc.needsProbe() {
		j.probe = pl.startProbe(ctx, p)
	}
	j.opts = gobuild.Options{
		Dir: pl.kob.Dir, Package: pl.settings.Package, ImportPath: pl.src.ImportPath, Platform: p,
		Env: pl.env.Environ, BuildEnv: pl.kob.Env, Flags: pl.settings.Flags, Ldflags: pl.settings.Ldflags,
		Output: bin, Progress: pl.env.Progress,
	}
	return j, nil
}

// finish lays the compiled binary of j, and the probe, on the base's image.
func (pl *Planned) finish(j *job) (PlatformImage, error) {
	p := j.platform
	baseImg, baseDigest, err := pl.base.Image(p)
	if err != nil {
		return PlatformImage{}, err
	}
	probe, err := j.probe()
	if err != nil {
		return PlatformImage{}, err
	}
	img, err := pl.assemble(baseImg, baseDigest, p, j.opts.Output, probe, pl.users[p.String()])
	if err != nil {
		return PlatformImage{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return PlatformImage{}, fmt.Errorf("computing the image digest: %w", err)
	}
	return PlatformImage{Platform: p, Image: img, Digest: d, BaseDigest: baseDigest, Binary: j.opts.Output}, nil
}

// resolveUser settles the user the image on baseImg (whose digest is
// baseDigest) runs as: the service's (flag or settings), names looked up in
// the base's /etc/passwd and /etc/group, written as numeric uid:gid; ""
// keeps the base's. It refuses root — any spelling of uid 0, a name whose
// uid is 0, or a base that runs as root — unless AllowRoot.
func (pl *Planned) resolveUser(baseImg v1.Image, baseDigest v1.Hash) (string, error) {
	user := pl.svc.user
	fromBase := user == ""
	if fromBase {
		cf, err := baseImg.ConfigFile()
		if err != nil {
			return "", fmt.Errorf("reading the config of base %s: %w", pl.base.Name, err)
		}
		user = cf.Config.User
	}
	uid, gid := 0, 0
	if user != "" {
		acc := base.BuiltinAccounts()
		if !pl.base.IsBuiltin() {
			var err error
			if acc, err = pl.env.Shared.baseAccounts(baseDigest, func() (*base.Accounts, error) {
				return base.ReadAccounts(baseImg)
			}); err != nil {
				return "", err
			}
		}
		var err error
		if uid, gid, err = acc.Resolve(user); err != nil {
			if fromBase {
				return "", fmt.Errorf("base %s runs as %q: %w", pl.base.Name, user, err)
			}
			return "", err
		}
		if uid < 0 || gid < 0 {
			return "", fmt.Errorf("user %q: ids must be 0 or more", user)
		}
	}
	if uid == 0 && !pl.req.AllowRoot {
		if fromBase {
			return "", fmt.Errorf("base %s runs as root (user %q): pass --user %d:%d or another non-root user, or --allow-root if you really mean it",
				pl.base.Name, user, base.NonrootUID, base.NonrootUID)
		}
		return "", fmt.Errorf("user %q is root (uid 0): use a non-root uid such as %d, or pass --allow-root if you really mean it", user, base.NonrootUID)
	}
	if fromBase {
		return "", nil
	}
	return fmt.Sprintf("%d:%d", uid, gid), nil
}

func (pl *Planned) assemble(baseImg v1.Image, baseDigest v1.Hash, p v1.Platform, binPath string, probeLayer v1.Layer, user string) (v1.Image, error) {
	entrypoint := "/usr/local/bin/" + pl.svc.name
	if probeLayer != nil && entrypoint == probe.Path {
		return nil, fmt.Errorf("the binary %s would replace builder's healthcheck probe: rename it (name in its builder settings)", entrypoint)
	}
	app, err := pl.binaryLayer(binPath, entrypoint, pl.src.ImportPath, p)
	if err != nil {
		return nil, fmt.Errorf("building the application layer: %w", err)
	}
	add := []imagespec.Layer{{Layer: app, History: "builder: go build " + pl.src.ImportPath}}
	if probeLayer != nil {
		add = append(add, imagespec.Layer{Layer: probeLayer, History: "builder: HTTP healthcheck probe"})
	}
	sv := pl.svc
	return imagespec.Append(baseImg, add, imagespec.Spec{
		Entrypoint:  entrypoint,
		Args:        sv.args,
		User:        user,
		Env:         sv.env,
		Ports:       sv.ports,
		Labels:      imagespec.Labels(pl.facts(baseDigest.String()), sv.labels),
		Annotations: sv.annotations,
		WorkingDir:  sv.workingDir,
		StopSignal:  sv.stopSignal,
		Healthcheck: sv.healthcheck(entrypoint),
		Created:     pl.meta.created,
		Platform:    p,
		Format:      pl.req.Format,
	})
}

// binaryLayer is the layer that installs the binary at binPath as dest,
// from the cache when its content is there. program names what the binary
// is a build of (its import path), for p.
func (pl *Planned) binaryLayer(binPath, dest, program string, p v1.Platform) (v1.Layer, error) {
	e, err := layers.BinaryEntry(binPath, dest)
	if err != nil {
		return nil, err
	}
	// The build ID names the binary's content, so that an unchanged binary
	// is found in the cache without being read again; the service's
	// previous binary lends the blocks a change left as they were.
	key := cache.Key{Lineage: fmt.Sprintf("go-binary:%s:%s:%s:%o", program, p.String(), dest, e.Mode)}
	if id, err := gobuild.BuildID(binPath); err == nil {
		key.Content = fmt.Sprintf("go-binary:%s:%s:%o", id, dest, e.Mode)
	}
	tar, err := layers.Tar([]layers.Entry{e})
	if err != nil {
		return nil, err
	}
	return pl.env.Cache.KeyedLayer(key, tar)
}

// startProbe starts building the HTTP probe's layer for p, beside the
// service's compile; the returned function waits for it.
func (pl *Planned) startProbe(ctx context.Context, p v1.Platform) func() (v1.Layer, error) {
	done := make(chan struct{})
	var l v1.Layer
	var err error
	go func() {
		defer close(done)
		bin, unlock, berr := probe.Build(ctx, pl.env.Cache, p, pl.env.Environ)
		if berr != nil {
			err = berr
			return
		}
		defer unlock()
		l, err = pl.binaryLayer(bin, probe.Path, "builder-probe", p)
		pl.env.Trace.Mark("probe " + p.String())
	}()
	return func() (v1.Layer, error) {
		<-done
		return l, err
	}
}

// binaryKey names the binary of the plan's package for p: its path in the
// cache, and its lock.
func (pl *Planned) binaryKey(p v1.Platform) string { return pl.src.Dir + "\x00" + p.String() }

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
	dir, unlock, err := pl.env.Cache.BinaryDir(pl.binaryKey(p))
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, pl.src.Name), unlock, nil
}
