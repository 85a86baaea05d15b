package main

import (
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/resolve"
)

func newResolveCmd() *cobra.Command {
	var o resolve.Options
	var insecure []string
	var sbom, provenance string
	cmd := &cobra.Command{
		Use:   "resolve -f FILE|DIR|-",
		Short: "Build and push each ko:// package named in YAML and print the YAML with digests",
		Long: `Resolve reads YAML documents (Kubernetes manifests of any kind, CRDs
included) and replaces every string ko://IMPORT/PATH with REPO/NAME@sha256:…,
the image of that main package, built and pushed by digest once however often
it is named. NAME is the service's name, as publish names it: its settings'
name, else the last element of the import path (the one before a /vN
suffix). No tag is written. Everything else in the YAML
is kept, comments and key order included; the YAML goes to stdout, and nothing
is applied.

-f takes a file, a directory (its .yaml, .yml and .json files, not those of
subdirectories) or - for stdin, and may be repeated. The repository comes
from --repo, else $KO_DOCKER_REPO, else $BUILDER_REPO. Each package's image
settings come from its .ko.yaml, as with build; the version is --tag, else
git describe. Bad input (a file that cannot be read, YAML that does not
parse, a path that is no main package) fails on one line naming the file and
document, before anything is built or pushed.

--cache-repo (or $BUILDER_CACHE_REPO) shares the Go build cache between CI
runners through a registry repository, as with publish. Whoever can push to
that repository can influence builds: see README "Shared Go build cache".`,
		Example: `  # Resolve a directory of manifests and apply them
  builder resolve -f k8s/ --repo ghcr.io/acme | kubectl apply -f -

  # The same file works with ko resolve
  KO_DOCKER_REPO=localhost:5000/dev builder resolve -f deploy.yaml > resolved.yaml

  # On a CI runner that shares the Go build cache with the others
  builder resolve -f k8s/ --repo ghcr.io/acme --cache-repo ghcr.io/acme/cache/go > resolved.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Repo = firstSet(o.Repo, os.Getenv("KO_DOCKER_REPO"), os.Getenv("BUILDER_REPO"))
			o.Build.SBOM, o.Build.Provenance = sbom != "none", provenance != "none"
			client := registry.New(insecure)
			client.Progress = &push.Progress{W: cmd.ErrOrStderr(), Live: isTerminal(cmd.ErrOrStderr())}
			env := environment(cmd.ErrOrStderr(), client)
			return resolve.Resolve(cmd.Context(), o, cmd.InOrStdin(), cmd.OutOrStdout(), env)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Files, "filename", "f", nil, "YAML file, directory of YAML files, or - for stdin (repeatable)")
	f.StringVar(&o.Repo, "repo", "", "repository the images go under as REPO/NAME, e.g. ghcr.io/acme (default $KO_DOCKER_REPO, else $BUILDER_REPO)")
	f.StringVarP(&o.Build.Tag, "tag", "t", "", "version injected into the binaries (default: git describe --tags --always --dirty); no tag is pushed")
	f.StringVar(&o.Build.Platform, "platform", "", "target platforms os/arch[/variant], comma-separated, or all (default: .ko.yaml defaultPlatforms, else linux/"+runtime.GOARCH+")")
	f.StringVar(&sbom, "sbom", "", "none: attach no SBOM to the images")
	f.StringVar(&provenance, "provenance", "", "none: attach no provenance to the images")
	f.StringArrayVar(&insecure, "insecure-registry", nil, "registry host[:port] that may be reached over plain HTTP (repeatable)")
	f.IntVar(&o.Jobs, "jobs", 4, "images pushed at a time (all are built together)")
	addCacheRepoFlag(f, &o.CacheRepo)
	return cmd
}
