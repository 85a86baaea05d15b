package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/buildercli/builder/internal/pipeline"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/registry"
	"github.com/buildercli/builder/internal/release"
)

const publishLong = `Publish builds a main package (a directory or an import path; with none, the
only build of .ko.yaml, else the module's only main package), like build, and
pushes it to a registry: the layers that are missing (mounted from another
repository of the registry when builder knows one that has them), the manifest
by digest, and only then the tags.

--tag must be a SemVer 2.0 version (a leading v is optional). A release
vX.Y.Z publishes vX.Y.Z, vX.Y, vX, latest and git-<commit>; a pre-release
(v1.3.0-rc.1) publishes only its own tag and git-<commit>. Floating tags never
move backwards: publishing v1.1.5 after v1.2.0 leaves v1 and latest alone. An
existing version tag is never repointed at a different image. A tree with
uncommitted changes is refused unless --allow-dirty, which then skips the
git-<commit> tag.

The repository comes from --repo, else $BUILDER_REPO, else $KO_DOCKER_REPO.
Credentials come from docker's config.json and credential helpers (see
builder login). TLS is verified (SSL_CERT_FILE adds a CA); plain HTTP is used
only for loopback registries and those named by --insecure-registry. Failed
requests are retried with backoff on 408, 429, 5xx and dropped connections,
honouring Retry-After; an unreachable registry fails within about 30 seconds.

Several packages, or a pattern such as ./cmd/..., publish one image a
service, each to REPO/NAME: compiled together, every image and its records
pushed before any tag is written, then the release's tags in each
repository. A service that does not compile fails the run before anything
is pushed.

--cache-repo (or $BUILDER_CACHE_REPO) shares the Go build cache between CI
runners through a registry repository: a runner that starts empty fetches
what others compiled instead of compiling it. Whoever can push to that
repository can influence builds: see README "Shared Go build cache".

stdout gets one REPO:TAG@DIGEST line per tag written, or with --json one JSON
document ({"services": [...], "references": [...]} for several services);
progress and notes go to stderr.

` + settingsHelp

func newPublishCmd() *cobra.Command {
	var o pipeline.PublishOptions
	var insecure []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "publish [package...]",
		Short: "Build an image and publish it to a registry with its release tags",
		Long:  publishLong,
		Example: `  # Release v1.2.0 of ./app
  builder publish ./app --tag v1.2.0 --repo ghcr.io/acme/app

  # The same, with the repository from the environment, for CI
  BUILDER_REPO=ghcr.io/acme/app builder publish ./app --tag "$GITHUB_REF_NAME" --json

  # Every service under ./cmd, each to ghcr.io/acme/NAME, on a CI runner
  # that shares the Go build cache with the others
  builder publish ./cmd/... --tag v1.2.0 --repo ghcr.io/acme --cache-repo ghcr.io/acme/cache/go

  # Push to a local registry and keep a tarball of the same image
  builder publish ./app --tag v1.2.0 --repo localhost:5000/app --tarball app.tar`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Paths = args
			o.Repo = firstSet(o.Repo, os.Getenv("BUILDER_REPO"), os.Getenv("KO_DOCKER_REPO"))
			client := registry.New(insecure)
			client.Progress = &push.Progress{W: cmd.ErrOrStderr(), Live: isTerminal(cmd.ErrOrStderr())}
			env := environment(cmd.ErrOrStderr(), client)
			results, err := pipeline.Publish(cmd.Context(), o, env)
			if err != nil && !tagsWritten(results) {
				return err
			}
			// Some tags may be written though the run failed: say exactly
			// which, then fail.
			if rerr := reportAll(cmd.OutOrStdout(), cmd.ErrOrStderr(), results, asJSON, o.Several()); rerr != nil {
				return rerr
			}
			return err
		},
	}
	f := cmd.Flags()
	addImageFlags(f, &o.Options)
	f.StringVar(&o.Repo, "repo", "", "repository to publish to, e.g. ghcr.io/acme/app (default $BUILDER_REPO, else $KO_DOCKER_REPO)")
	f.StringArrayVar(&o.ExtraTags, "extra-tag", nil, "another tag to publish as given (repeatable)")
	f.BoolVar(&o.AllowDirty, "allow-dirty", false, "publish from a tree with uncommitted changes (no git-<commit> tag)")
	f.StringArrayVar(&insecure, "insecure-registry", nil, "registry host[:port] that may be reached over plain HTTP (repeatable)")
	f.StringVar(&o.ImageRefs, "image-refs", "", "write every reference published to this file, one a line: REPO@DIGEST, then REPO:TAG@DIGEST per tag")
	f.BoolVar(&asJSON, "json", false, "print one JSON document describing the publish on stdout")
	return cmd
}

// tagsWritten reports whether a publish wrote or tried to write tags.
func tagsWritten(results []pipeline.Result) bool {
	for _, r := range results {
		if r.Written != nil {
			return true
		}
	}
	return false
}

// reportAll reports each service's publish; with several, --json prints
// one document listing them all and every reference.
func reportAll(stdout, stderr io.Writer, results []pipeline.Result, asJSON, several bool) error {
	if !several {
		return report(stdout, stderr, results[0], asJSON, false)
	}
	var refs []string
	lines := stdout
	if asJSON {
		lines = io.Discard
	}
	pushed := []pipeline.Result{}
	for _, res := range results {
		if res.Repository == "" {
			continue // not pushed: the run failed first
		}
		if err := report(lines, stderr, res, false, true); err != nil {
			return err
		}
		pushed = append(pushed, forJSON(res))
		refs = append(refs, res.References...)
	}
	if !asJSON {
		return nil
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Services   []pipeline.Result `json:"services"`
		References []string          `json:"references"`
	}{pushed, refs})
}

// report says what the publish of res did; with several services, notes
// name the repository of each tag.
func report(stdout, stderr io.Writer, res pipeline.Result, asJSON, several bool) error {
	who, tagOf := "", func(t string) string { return t }
	if several {
		who = res.Repository + ": "
		tagOf = func(t string) string { return res.Repository + ":" + t }
	}
	fmt.Fprintf(stderr, "pushed %s: %d layers, %d uploaded (%d bytes), %d already there, %d mounted\n",
		res.Ref, res.Push.Layers, res.Push.Uploaded, res.Push.UploadedBytes, res.Push.Existing, res.Push.Mounted)
	for _, l := range res.Left {
		if !slices.Contains(res.Settled, l) {
			fmt.Fprintf(stderr, "left %s where it was: %s is newer\n", tagOf(l.Tag), l.Newer)
		}
	}
	for _, l := range res.Settled {
		fmt.Fprintf(stderr, "moved %s to %s, the highest release: another publish ran at the same time\n", tagOf(l.Tag), l.Newer)
	}
	tags := res.Moved
	if w := res.Written; w != nil && len(w.Failed) > 0 {
		fmt.Fprintf(stderr, "%stags written: %s; not written: %s\n", who, list(w.Written), list(w.Failed))
		tags = w.Written
	} else if w == nil {
		tags = nil
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(forJSON(res))
	}
	for _, t := range tags {
		if _, err := fmt.Fprintf(stdout, "%s:%s@%s\n", res.Repository, t, res.Digest); err != nil {
			return err
		}
	}
	return nil
}

// forJSON gives res's lists as [] rather than null.
func forJSON(res pipeline.Result) pipeline.Result {
	if res.Moved == nil {
		res.Moved = []string{}
	}
	if res.Left == nil {
		res.Left = []release.Left{}
	}
	if res.References == nil {
		res.References = []string{}
	}
	return res
}

func list(tags []string) string {
	if len(tags) == 0 {
		return "none"
	}
	return strings.Join(tags, ", ")
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func isTerminal(w io.Writer) bool {
	fd, ok := fileDescriptor(w)
	return ok && term.IsTerminal(fd)
}

// fileDescriptor is w's, when w is a file.
func fileDescriptor(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, false
	}
	return int(f.Fd()), true
}
