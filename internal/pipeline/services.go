package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/source"
)

// Several reports whether o names several services: more than one path,
// or a pattern (./cmd/...), however many packages it matches. Each image
// then goes to REPO/NAME.
func (o Options) Several() bool {
	return len(o.Paths) > 1 || len(o.Paths) == 1 && source.IsPattern(o.Paths[0])
}

// checkSeveral refuses the outputs that hold one image when o names
// several services.
func (o Options) checkSeveral() error {
	if !o.Several() {
		return nil
	}
	for _, f := range []struct{ flag, path string }{{"--tarball", o.Tarball}, {"--sbom", file(o.SBOM)}, {"--provenance", file(o.Provenance)}} {
		if f.path != "" {
			return fmt.Errorf("%s %s holds one service's image or record, and %s names several: build them one at a time, or use --oci-layout DIR (a layout a service)",
				f.flag, f.path, strings.Join(o.Paths, " "))
		}
	}
	return nil
}

// plan plans the build of each package o names (see PlanServices); with
// several, two services whose images would share a repository, and so
// their tags, are refused.
func (o Options) plan(ctx context.Context, srcs []source.Package, env build.Env) ([]*build.Planned, error) {
	req := o.Build
	req.RepoIsParent = o.Several() && req.Repo != ""
	var labels []string
	if len(srcs) > 1 {
		labels = make([]string, len(srcs))
		for i, src := range srcs {
			labels[i] = src.ImportPath
		}
	}
	plans, err := PlanServices(ctx, srcs, req, labels, env)
	if err != nil {
		return nil, err
	}
	byRepo := map[string]string{}
	for i, pl := range plans {
		repo := registry.ShortName(pl.Ref().Context())
		if other, ok := byRepo[repo]; ok {
			return nil, fmt.Errorf("%s and %s would both be %s: give one another name (name: in its builder settings in .ko.yaml)", other, srcs[i].ImportPath, repo)
		}
		byRepo[repo] = srcs[i].ImportPath
	}
	return plans, nil
}

// PlanServices plans the build of each of srcs with req, every one checked
// before anything is compiled; the services share their bases and notes
// (build.Shared) and, when there are several, each has a scratch
// directory of its own. labels, when set, start each service's errors.
// env must have its scratch directory.
func PlanServices(ctx context.Context, srcs []source.Package, req build.Request, labels []string, env build.Env) ([]*build.Planned, error) {
	env.Shared = &build.Shared{}
	plans := make([]*build.Planned, len(srcs))
	for i, src := range srcs {
		e := env
		if len(srcs) > 1 {
			var err error
			if e, err = env.ServiceScratch(i); err != nil {
				return nil, err
			}
		}
		pl, err := build.Plan(ctx, src, req, e)
		if err != nil {
			if labels != nil {
				return nil, fmt.Errorf("%s: %w", labels[i], err)
			}
			return nil, err
		}
		plans[i] = pl
	}
	return plans, nil
}

// localOutputs are the local outputs of each plan's image: o's, with a
// layout of its own for each service, DIR/NAME, when there are several.
func (o Options) localOutputs(plans []*build.Planned) []push.Multi {
	outs := make([]push.Multi, len(plans))
	for i, pl := range plans {
		oi := o
		if o.Several() && o.OCILayout != "" {
			oi.OCILayout = filepath.Join(o.OCILayout, strings.ToLower(pl.Name()))
		}
		outs[i] = oi.destinations()
	}
	return outs
}

// checkBuilt refuses, before building, results that the outputs cannot
// take, and each service's layout, DIR/NAME, that is not one.
func (o Options) checkBuilt(plans []*build.Planned) error {
	for _, out := range o.localOutputs(plans) {
		for _, d := range out {
			if l, ok := d.(push.LayoutDir); ok && o.Several() {
				if err := push.CheckLayout(string(l)); err != nil {
					return fmt.Errorf("--oci-layout: %w", err)
				}
			}
		}
	}
	for _, pl := range plans {
		if len(pl.Platforms()) > 1 && o.Tarball != "" {
			return push.ErrTarballIndex
		}
		if len(pl.Platforms()) > 1 && o.Load {
			return push.ErrLoadIndex
		}
	}
	return nil
}
