// Package build turns a Go main package into a container image: it reads the
// checkout and .ko.yaml, resolves the base, compiles a static binary per
// platform in parallel, lays each on the base, and joins several platforms
// in an OCI image index.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/buildercli/builder/internal/bases"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/vcs"
)

// Result is a built image, or index of images, and how it is named.
type Result struct {
	// Artifact is Image for one platform, else Index.
	Artifact push.Artifact
	Image    v1.Image
	Index    v1.ImageIndex
	// Images holds each platform's image, in platform order.
	Images  []PlatformImage
	Digest  v1.Hash
	Ref     name.Tag
	Version string
	// Base names the base as labels do.
	Base string
	// Git is the state of the checkout built.
	Git vcs.Info
	// Build holds the go build settings used, for provenance.
	Build Settings
	// App is the package's import path; Created the image's time.
	App     string
	Created time.Time
	// BaseDigest is what the base resolved to; empty for the built-in base.
	BaseDigest v1.Hash
	// BuilderVersion is builder's own version, for the records.
	BuilderVersion string
}

// PlatformImage is the image built for one platform.
type PlatformImage struct {
	Platform   v1.Platform
	Image      v1.Image
	Digest     v1.Hash
	BaseDigest v1.Hash
	// Binary is the compiled binary; it lives as long as the build's work
	// directory or cache.
	Binary string
}

// Settings are the go build settings of an image, as provenance records them.
type Settings struct {
	Package string   `json:"package"`
	Flags   []string `json:"flags"`
	Ldflags string   `json:"ldflags"`
	Env     []string `json:"env"`
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
		if res.Image == nil {
			return errTarballIndex
		}
		if err := push.Tarball(res.Image, []name.Tag{res.Ref}, o.Tarball); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s (%s)\n", o.Tarball, res.Ref)
	}
	if o.OCILayout != "" {
		if err := push.Layout(res.Artifact, res.Ref, o.OCILayout); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s (%s)\n", o.OCILayout, res.Ref.TagStr())
	}
	return writeRecords(res, o, log)
}

var errTarballIndex = errors.New("--tarball holds one platform's image: give one --platform, or use --oci-layout DIR for several")

// Image builds what the options describe, without writing it anywhere.
// Binaries are compiled into work (or the cache), which must outlive the
// result's use.
func Image(ctx context.Context, o Options, work string, log io.Writer) (Result, error) {
	pl, err := newPlan(ctx, o, work, log)
	if err != nil {
		return Result{}, err
	}
	o.Trace.Mark("plan")
	fmt.Fprintf(log, "building %s %s for %s on %s\n", pl.src.pkg, pl.meta.version, bases.List(pl.platforms), pl.base.Name)
	images := make([]PlatformImage, len(pl.platforms))
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range pl.platforms {
		g.Go(func() (err error) {
			images[i], err = pl.buildPlatform(gctx, p, work)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	o.Trace.Mark("layers")
	res := Result{Images: images, Ref: pl.ref, Version: pl.meta.version, Base: pl.base.Name, Git: pl.meta.git,
		Build: pl.settings, App: pl.src.importPath, Created: pl.meta.created, BaseDigest: pl.base.Digest,
		BuilderVersion: o.BuilderVersion}
	if len(images) == 1 {
		res.Image, res.Artifact, res.Digest = images[0].Image, images[0].Image, images[0].Digest
		return res, nil
	}
	res.Index, err = pl.index(images)
	if err != nil {
		return Result{}, err
	}
	res.Artifact = res.Index
	if res.Digest, err = res.Index.Digest(); err != nil {
		return Result{}, fmt.Errorf("computing the index digest: %w", err)
	}
	o.Trace.Mark("index")
	return res, nil
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
