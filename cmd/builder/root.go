package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "builder",
		Short: "Build small, secure, reproducible images of Go services",
		Long: `builder compiles a Go main package into a static binary and lays it on a
distroless-style base as a deterministic OCI image, without a Dockerfile and
without a Docker daemon. Same commit, same digest.`,
		Example: `  # Build ./app on the built-in base and export a tarball for docker/podman load
  builder build --tarball app.tar

  # The same, tagged v1.2.0, into an OCI layout
  builder build ./app --tag v1.2.0 --oci-layout out/`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newBuildCmd(), newPublishCmd(), newResolveCmd(), newLoginCmd(), newVersionCmd())
	root.AddCommand(newManifestsCmd())
	root.AddCommand(newGoCacheProgCmd())
	return root
}
