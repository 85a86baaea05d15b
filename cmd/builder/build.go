package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/pipeline"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/trace"
)

func newBuildCmd() *cobra.Command {
	var o pipeline.Options
	var insecure []string
	cmd := &cobra.Command{
		Use:   "build [path]",
		Short: "Build an image of a Go main package and write it to a file",
		Long: `Build compiles the main package at path (default ./app) into a static Linux
binary and lays it on the built-in distroless-style base. The image runs as
65532:65532, is dated by the commit, and is byte-identical for the same commit.

The image digest is printed on stdout; progress and notes go to stderr.
Build settings (flags, ldflags, env, defaultPlatforms) come from .ko.yaml at
the module root, or from $KO_CONFIG_PATH. The default platform is linux on the
host's architecture.`,
		Example: `  # Export a docker-archive for "docker load" or "podman load"
  builder build --tarball app.tar

  # Tag it, name it, and target arm64
  builder build ./app --tag v1.2.0 --repo ghcr.io/acme/app --platform linux/arm64 --tarball app.tar

  # Write into an OCI image layout (re-running replaces the same tag)
  builder build --oci-layout out/ --label org.opencontainers.image.licenses=MIT`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Path = args[0]
			}
			env := environment(cmd.ErrOrStderr(), registry.New(insecure))
			res, err := pipeline.Build(cmd.Context(), o, env)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), res.Digest)
			return err
		},
	}
	addImageFlags(cmd.Flags(), &o)
	cmd.Flags().StringVar(&o.Build.Repo, "repo", "", "image name used in the tarball's and layout's references (default: the package directory's name)")
	cmd.Flags().StringArrayVar(&insecure, "insecure-registry", nil, "registry host[:port] of a --base that may be reached over plain HTTP (repeatable)")
	return cmd
}

// addImageFlags binds the flags that describe the image, shared by build and
// publish.
func addImageFlags(f *pflag.FlagSet, o *pipeline.Options) {
	b := &o.Build
	f.StringVarP(&b.Tag, "tag", "t", "", "image tag and version injected into the binary (default: git describe --tags --always --dirty)")
	f.StringVar(&b.Platform, "platform", "", "target platforms os/arch[/variant], comma-separated, or all the base offers: all (default: .ko.yaml defaultPlatforms, else linux/"+runtime.GOARCH+")")
	f.StringVar(&b.Base, "base", "", "base image: "+base.Syntax)
	f.StringVar(&b.User, "user", "", "user the image runs as, uid[:gid] or a name of the base (default 65532:65532)")
	f.BoolVar(&b.AllowRoot, "allow-root", false, "allow an image that runs as root")
	f.StringArrayVar(&b.Labels, "label", nil, "extra image label key=value (repeatable)")
	f.StringArrayVar(&b.Env, "env", nil, "extra environment variable KEY=value for the image (repeatable)")
	f.IntVar(&b.Port, "port", 0, "port the service listens on: exposed and set as PORT (default 8080)")
	f.StringVar(&o.Tarball, "tarball", "", "write a docker-archive tarball to this file")
	f.StringVar(&o.OCILayout, "oci-layout", "", "write into the OCI image layout in this directory")
	f.StringVar(&o.SBOM, "sbom", "", "write each image's SPDX 2.3 SBOM to this file (publish also attaches it; \"none\": no SBOM)")
	f.StringVar(&o.Provenance, "provenance", "", "write the SLSA provenance statement to this file (publish also attaches it; \"none\": none)")
}

// environment is what a build takes from the environment it runs in.
func environment(log io.Writer, client registry.Client) build.Env {
	env := build.Env{
		HostArch:        runtime.GOARCH,
		Environ:         os.Environ(),
		SourceDateEpoch: os.Getenv("SOURCE_DATE_EPOCH"),
		KoConfig:        os.Getenv("KO_CONFIG_PATH"),
		Cache:           cache.Cache{Dir: cache.FromEnv(os.Getenv)},
		Registry:        client,
		BuilderVersion:  builderVersion(),
		Log:             log,
	}
	if os.Getenv("BUILDER_TRACE") == "1" {
		env.Trace = &trace.Stopwatch{W: os.Stderr}
	}
	return env
}
