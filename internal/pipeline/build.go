// Package pipeline runs builder's commands from start to end, one stage
// after the other: the source is read, the image built, delivered to its
// destinations and, for a release, tagged.
package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/source"
)

// None turns off a record: --sbom none, --provenance none.
const None = "none"

// Options are what the user asked a build for.
type Options struct {
	// Paths name the main packages: directories, import paths, or
	// patterns such as ./cmd/... (see source.ReadAll); when empty, the only
	// one .ko.yaml or the module has (see source.Find).
	Paths []string
	// Build describes the image.
	Build build.Request
	// Tarball and OCILayout are where the image is written; "" for not.
	Tarball, OCILayout string
	// Load sends the image to the container engine at Engine (DOCKER_HOST's
	// syntax; "" for push.DefaultEngineHost).
	Load   bool
	Engine string
	// SBOM and Provenance are files to write the records to; "" or None
	// for none. (Publish also attaches them to the image unless None.)
	SBOM, Provenance string
	// CacheRepo, when set, is a registry repository that shares the Go
	// build cache between runners (see gocache); env.Self serves it.
	CacheRepo string
}

// checkCacheRepo checks the --cache-repo name.
func (o Options) checkCacheRepo(env build.Env) error {
	if o.CacheRepo == "" {
		return nil
	}
	if env.Self == "" {
		return fmt.Errorf("--cache-repo: builder cannot find its own executable to serve the Go build cache")
	}
	if _, err := env.Registry.Repository(o.CacheRepo); err != nil {
		return fmt.Errorf("--cache-repo: %w", err)
	}
	return nil
}

// validate checks what needs no file or command, so that bad input fails
// before anything is read, compiled or written; more are further outputs,
// as flag and path, checked with o's.
func (o Options) validate(more ...[2]string) error {
	several := strings.Contains(o.Build.Platform, ",") || o.Build.Platform == "all"
	if o.Tarball != "" && several {
		return push.ErrTarballIndex
	}
	if o.Load && several {
		return push.ErrLoadIndex
	}
	if err := o.checkOutputs(more...); err != nil {
		return err
	}
	if err := o.checkSeveral(); err != nil {
		return err
	}
	return o.Build.Validate()
}

// checkOutputs refuses, before anything is built, outputs that are not
// files builder may write: "-", anything but a regular file where a file
// goes, anything but a directory where the layout goes, and two outputs that
// are the same path or one inside the other.
func (o Options) checkOutputs(more ...[2]string) error {
	type output struct{ flag, path string }
	var outs []output
	all := []output{{"--tarball", o.Tarball}, {"--oci-layout", o.OCILayout}, {"--sbom", file(o.SBOM)}, {"--provenance", file(o.Provenance)}}
	for _, m := range more {
		all = append(all, output{m[0], m[1]})
	}
	for _, out := range all {
		if out.path == "" {
			continue
		}
		if out.path == "-" {
			return fmt.Errorf("%s -: builder writes no output to stdout; give a file name", out.flag)
		}
		abs, err := filepath.Abs(out.path)
		if err != nil {
			return fmt.Errorf("%s %s: %w", out.flag, out.path, err)
		}
		if out.flag == "--oci-layout" {
			check := push.CheckLayout
			if o.Several() {
				check = push.CheckLayoutParent
			}
			if err := check(abs); err != nil {
				return fmt.Errorf("--oci-layout: %w", err)
			}
		} else if err := atomicfile.Check(abs); err != nil {
			return fmt.Errorf("%s: %w", out.flag, err)
		}
		for _, prev := range outs {
			switch {
			case prev.path == abs:
				return fmt.Errorf("%s and %s name the same path %s: give each its own", prev.flag, out.flag, out.path)
			case strings.HasPrefix(abs, prev.path+string(filepath.Separator)):
				return fmt.Errorf("%s %s is inside %s: give it a path of its own", out.flag, out.path, prev.flag)
			case strings.HasPrefix(prev.path, abs+string(filepath.Separator)):
				return fmt.Errorf("%s is inside %s %s: give it a path of its own", prev.flag, out.flag, out.path)
			}
		}
		outs = append(outs, output{out.flag, abs})
	}
	return nil
}

// destinations are the local outputs o names, in the order written.
func (o Options) destinations() push.Multi {
	var m push.Multi
	if o.Tarball != "" {
		m = append(m, push.TarballFile(o.Tarball))
	}
	if o.OCILayout != "" {
		m = append(m, push.LayoutDir(o.OCILayout))
	}
	files := push.RecordFiles{SBOM: file(o.SBOM), Provenance: file(o.Provenance)}
	if files != (push.RecordFiles{}) {
		m = append(m, files)
	}
	// Last: a load is put back through the engine's API, which may fail
	// too, where files are put back on disk.
	if o.Load {
		m = append(m, push.Engine{Host: o.Engine})
	}
	return m
}

// checkEngine checks, with --load, that an engine answers: no engine, no
// build.
func (o Options) checkEngine(ctx context.Context) error {
	if !o.Load {
		return nil
	}
	return push.Engine{Host: o.Engine}.Ping(ctx)
}

func file(p string) string {
	if p == None {
		return ""
	}
	return p
}

// Build builds the image of each service o names, compiling them
// together, and writes each to the tarball, OCI layout and record files o
// names, and loads it into the engine; at least one of the tarball, layout
// and engine. A failure puts back every output as it was.
func Build(ctx context.Context, o Options, env build.Env) ([]build.Result, error) {
	if o.Tarball == "" && o.OCILayout == "" && !o.Load {
		return nil, fmt.Errorf("nothing to write: add --tarball FILE or --oci-layout DIR, or --load (or use builder publish)")
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := o.checkCacheRepo(env); err != nil {
		return nil, err
	}
	if err := o.checkEngine(ctx); err != nil {
		return nil, err
	}
	o.Build.SBOM, o.Build.Provenance = file(o.SBOM) != "", file(o.Provenance) != ""
	srcs, err := source.ReadAll(ctx, o.Paths, env.KoConfig)
	if err != nil {
		return nil, err
	}
	env, done, err := env.WithScratch()
	if err != nil {
		return nil, err
	}
	defer done()
	goCache := StartGoCache(ctx, o.CacheRepo, srcs, o.Build.Platform, env)
	defer goCache.Cancel()
	plans, err := o.plan(ctx, srcs, env)
	if err != nil {
		return nil, err
	}
	if err := o.checkBuilt(plans); err != nil {
		return nil, err
	}
	results, err := build.All(ctx, plans, goCache.Program(env), build.Handoff{})
	if err != nil {
		return nil, err
	}
	defer goCache.Share(ctx, env)()
	outs := o.localOutputs(plans)
	var undo push.Undo
	for i, res := range results {
		if err := undo.Remember(ctx, outs[i], res); err != nil {
			undo.Forget() // nothing is written yet: drop what was kept
			return nil, err
		}
	}
	for i, res := range results {
		if err := outs[i].Deliver(ctx, res, env.Log); err != nil {
			// Outputs written before the one that failed are put back.
			if rerr := undo.Restore(); rerr != nil {
				fmt.Fprintf(env.Log, "note: %v\n", rerr)
			}
			return nil, err
		}
	}
	undo.Forget()
	return results, nil
}
