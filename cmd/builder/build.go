package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/cache"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/pipeline"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/trace"
)

func newBuildCmd() *cobra.Command {
	var o pipeline.Options
	var insecure []string
	cmd := &cobra.Command{
		Use:   "build [package...]",
		Short: "Build an image of a Go main package and write it to a file",
		Long: `Build compiles a Go main package into a static Linux binary and lays it on
the built-in distroless-style base (or --base). The image is dated by the
commit and is byte-identical for the same commit, from any clone.

The package is a directory (./cmd/api) or an import path
(github.com/acme/shop/cmd/api); with none, the only build of .ko.yaml, else
the module's only main package. The binary, the title and the image's
default name are the import path's last element.

Several packages, or a pattern such as ./cmd/... (every main package under
./cmd), build one image a service in one run: their binaries are compiled
together (what they share, once), the base resolved once, and each image is
named REPO/NAME (NAME: the service's name). --oci-layout DIR then gets a
layout a service, DIR/NAME; --tarball, --sbom and --provenance, which hold
one image, are refused.

` + settingsHelp + `

The image digest is printed on stdout (with several services, one
REPO@DIGEST line each); progress and notes go to stderr. A compile that
runs long shows the packages compiled: one line redrawn on a terminal, a
plain line every 20 seconds elsewhere.`,
		Example: `  # Export a docker-archive for "docker load" or "podman load"
  builder build ./cmd/api --tarball api.tar

  # Tag it, name it, and target arm64
  builder build ./cmd/api --tag v1.2.0 --repo ghcr.io/acme/api --platform linux/arm64 --tarball api.tar

  # Every command under ./cmd, one layout each under out/
  builder build ./cmd/... --repo ghcr.io/acme --oci-layout out/

  # Every command under ./cmd into the local engine
  builder build ./cmd/... --tag dev --load

  # A service with no settings of its own: expose 8080 and probe /healthz
  builder build . --port 8080 --env PORT=8080 --healthcheck http:/healthz --oci-layout out/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Paths = args
			env := environment(cmd.ErrOrStderr(), registry.New(insecure))
			results, err := pipeline.Build(cmd.Context(), o, env)
			if err != nil {
				return err
			}
			for _, res := range results {
				line := res.Digest.String()
				if len(results) > 1 {
					line = registry.ShortName(res.Ref.Context()) + "@" + line
				}
				if _, err := fmt.Fprintln(cmd.OutOrStdout(), line); err != nil {
					return err
				}
			}
			return nil
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
	f.StringVar(&b.User, "user", "", "user the image runs as, uid[:gid] or a name of the base (default: the settings', else the base's; the built-in base's is 65532:65532)")
	f.BoolVar(&b.AllowRoot, "allow-root", false, "allow an image that runs as root")
	f.StringArrayVar(&b.Labels, "label", nil, "image label key=value, over the settings' (repeatable)")
	f.StringArrayVar(&b.Annotations, "annotation", nil, "manifest annotation key=value, over the settings' (repeatable)")
	f.StringArrayVar(&b.Env, "env", nil, "environment variable KEY=value, over the settings' (repeatable)")
	f.StringArrayVar(&b.Ports, "port", nil, "port the service listens on, 8080 or 53/udp, instead of the settings' (repeatable; none for none)")
	f.StringVar(&b.Healthcheck, "healthcheck", "", "healthcheck instead of the settings': none, cmd:ARGS (the binary's own mode) or http:[PORT]/PATH (builder's probe)")
	f.StringVar(&b.WorkingDir, "workdir", "", "working directory, instead of the settings' or the base's")
	f.StringArrayVar(&b.Args, "arg", nil, "default argument after the binary, instead of the settings' (repeatable)")
	f.StringVar(&b.Format, "format", "", "media types: oci (default), or docker, whose HEALTHCHECK podman keeps too")
	f.StringVar(&b.StopSignal, "stop-signal", "", "signal that stops the service, e.g. SIGINT, instead of the settings'")
	f.StringVar(&o.Tarball, "tarball", "", "write the image to this file, for docker load and podman load; also an OCI layout archive (oci-archive:FILE) that keeps the digest")
	f.BoolVar(&o.Load, "load", false, "load the image into the container engine at $DOCKER_HOST (default "+push.DefaultEngineHost+": Docker, or podman system service) through its API")
	o.Engine = os.Getenv("DOCKER_HOST")
	f.StringVar(&o.OCILayout, "oci-layout", "", "write into the OCI image layout in this directory")
	f.StringVar(&o.SBOM, "sbom", "", "write each image's SPDX 2.3 SBOM to this file (publish also attaches it; \"none\": no SBOM)")
	f.StringVar(&o.Provenance, "provenance", "", "write the SLSA provenance statement to this file (publish also attaches it; \"none\": none)")
	addCacheRepoFlag(f, &o.CacheRepo)
}

// addCacheRepoFlag binds --cache-repo, which build, publish and resolve
// take, to repo.
func addCacheRepoFlag(f *pflag.FlagSet, repo *string) {
	f.StringVar(repo, "cache-repo", os.Getenv("BUILDER_CACHE_REPO"), "registry repository that shares the Go build cache between runners, e.g. ghcr.io/acme/cache/go (default $BUILDER_CACHE_REPO; see README)")
}

// terminalWidth is the width of the terminal w is, 0 when it is none or
// does not say.
func terminalWidth(w io.Writer) int {
	fd, ok := fileDescriptor(w)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(fd)
	if err != nil {
		return 0
	}
	return width
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
		Progress:        &gobuild.Progress{W: log, Live: isTerminal(log), Width: terminalWidth(log)},
	}
	if self, err := os.Executable(); err == nil {
		env.Self = self
	}
	if os.Getenv("BUILDER_TRACE") == "1" {
		env.Trace = &trace.Stopwatch{W: os.Stderr}
	}
	return env
}
