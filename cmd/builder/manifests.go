package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/buildercli/builder/internal/deploy"
	"github.com/buildercli/builder/internal/registry"
)

// manifestsOptions are the flags of builder manifests.
type manifestsOptions struct {
	image    string
	out      string
	kinds    []string
	insecure []string
}

func newManifestsCmd() *cobra.Command {
	var o manifestsOptions
	cmd := &cobra.Command{
		Use:   "manifests [package] --image REPO@sha256:DIGEST",
		Short: "Write Kubernetes manifests and a compose.yaml for a published image",
		Long: `Manifests writes a Deployment, a Service (when the image exposes ports), a
HorizontalPodAutoscaler, a PodDisruptionBudget and a compose.yaml for an
image published by digest, from its config (user, ports, healthcheck,
version) and the deploy settings of its package in .ko.yaml:

  builder:
    deploy:
      replicas: 2                  # and the autoscaler's minimum
      probes: {liveness: /healthz, readiness: /readyz, startup: /healthz}
      metricsPath: /metrics        # Prometheus scrape annotations
      shutdownTimeout: 10s         # grace period: 5 s more
      resources:
        requests: {cpu: 100m, memory: 64Mi}
        limits: {cpu: "1", memory: 128Mi}
      autoscaling: {maxReplicas: 5, cpuUtilization: 75}

The values shown are the defaults, but probes (without paths, the image's
healthcheck) and metricsPath (none). The liveness and startup probes run the
image's own healthcheck when it has one (a shell-less image has no curl for
an HTTP check), else GET their paths; readiness GETs its path. The pod
runs as the image's uid:gid, non-root, with a read-only root filesystem,
/tmp an emptyDir, no privilege escalation, every capability dropped and the
runtime's seccomp profile.

With -o DIR the files go into DIR with a kustomization.yaml; otherwise the
Kubernetes objects go to stdout as one multi-document YAML.`,
		Example: `  builder manifests ./app --image ghcr.io/acme/app@sha256:… | kubectl apply -f -
  builder manifests ./app --image ghcr.io/acme/app@sha256:… -o deploy/ && kubectl apply -k deploy/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := deploy.Request{Image: o.image, KoConfig: os.Getenv("KO_CONFIG_PATH"), Kinds: o.kinds}
			if len(args) == 1 {
				r.Package = args[0]
			}
			files, err := deploy.Manifests(cmd.Context(), registry.New(o.insecure), r)
			if err != nil {
				return err
			}
			if o.out != "" {
				return deploy.WriteDir(o.out, files)
			}
			return deploy.Stream(cmd.OutOrStdout(), files)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "the image by digest, REPO@sha256:DIGEST, as publish printed it (required)")
	f.StringVarP(&o.out, "output", "o", "", "directory to write the files and a kustomization.yaml into (default: the Kubernetes objects on stdout)")
	f.StringSliceVar(&o.kinds, "kind", nil, "kinds to write, comma-separated: deployment, service, hpa, pdb, compose (default: all; service only with ports)")
	f.StringArrayVar(&o.insecure, "insecure-registry", nil, "registry host[:port] that may be reached over plain HTTP (repeatable)")
	_ = cmd.MarkFlagRequired("image")
	return cmd
}
