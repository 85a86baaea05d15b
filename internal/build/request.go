package build

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/imagespec"
	"github.com/buildercli/builder/internal/platform"
	"github.com/buildercli/builder/internal/registry"
)

// Request is what the user asked a build for. Zero values give the
// defaults each field documents.
type Request struct {
	// Tag is the image tag and the version injected into the binary;
	// `git describe --tags --always --dirty` when empty.
	Tag string
	// Repo names the image; the package directory's name when empty.
	Repo string
	// RepoIsParent makes Repo the parent of the image's repository,
	// REPO/NAME, NAME being the service's name (lowercased): one
	// repository a service when a run builds several.
	RepoIsParent bool
	// Platform is "os/arch[/variant],…" or "all"; .ko.yaml's
	// defaultPlatforms, else linux on the host's architecture, when empty.
	Platform string
	// Base is the base image, in base.Syntax; .ko.yaml's, else the
	// built-in base, when empty.
	Base string
	// User runs the image, "uid[:gid]" or a name of the base; the base's
	// when empty. Root is refused unless AllowRoot.
	User      string
	AllowRoot bool
	// Labels, Annotations and Env are "key=value" pairs added to the
	// service's settings (see koconfig.Image), over them key by key.
	Labels, Annotations, Env []string
	// Ports, Healthcheck, WorkingDir, Args and StopSignal replace the
	// service's settings when set. Ports are "8080" or "53/udp"; "none"
	// alone exposes none. Healthcheck is "none", "cmd:ARG …" (the
	// service's binary run with those arguments) or "http:[PORT]/PATH"
	// (builder's probe).
	Ports                  []string
	Healthcheck            string
	WorkingDir, StopSignal string
	Args                   []string
	// Format is the media types the image is written in: "oci" (when
	// empty) or "docker", which podman needs to keep a HEALTHCHECK.
	Format string
	// SBOM and Provenance ask for the records.
	SBOM, Provenance bool
}

// sanitizeTag turns a version such as a git describe output into a valid
// tag by replacing what the grammar forbids with '-'.
func sanitizeTag(v string) string {
	b := []byte(v)
	for i, c := range b {
		ok := c == '_' || c == '.' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok || (i == 0 && (c == '.' || c == '-')) {
			b[i] = '_'
		}
	}
	if len(b) > 128 {
		b = b[:128]
	}
	return string(b)
}

// Validate checks every setting that needs no file or command, so that bad
// input fails before anything is compiled or written.
func (o Request) Validate() error {
	if o.Tag != "" {
		if err := registry.ValidateTag(o.Tag); err != nil {
			return err
		}
	}
	if o.Repo != "" {
		if err := registry.ValidateRepository(o.Repo); err != nil {
			return err
		}
		if _, err := name.NewRepository(o.Repo); err != nil {
			return fmt.Errorf("repository %q is not a valid image name: use lowercase REGISTRY/PATH, e.g. registry.example.com/team/app", o.Repo)
		}
	}
	if o.Platform != "" && o.Platform != "all" {
		if _, err := platform.ParseList(o.Platform); err != nil {
			return err
		}
	}
	if len(o.Ports) != 1 || o.Ports[0] != "none" {
		for _, p := range o.Ports {
			if _, err := imagespec.ParsePort(p); err != nil {
				return fmt.Errorf("--port: %w", err)
			}
		}
	}
	if o.Healthcheck != "" {
		if _, err := ParseHealthcheck(o.Healthcheck); err != nil {
			return err
		}
	}
	switch o.Format {
	case "", imagespec.FormatOCI, imagespec.FormatDocker:
	default:
		return fmt.Errorf("--format %q: use oci (the default) or docker", o.Format)
	}
	if err := checkSettings("--", o.Labels, o.Annotations, o.Env, o.WorkingDir, o.StopSignal); err != nil {
		return err
	}
	for _, l := range o.Labels {
		k, _, _ := strings.Cut(l, "=")
		if err := imagespec.CheckUserLabel(k); err != nil {
			return err
		}
	}
	return checkUser(o.User, o.AllowRoot)
}

// userName is the form a user or group name takes.
var userName = regexp.MustCompile(`^[a-z_][a-z0-9_.-]*$`)

// checkUser accepts "uid[:gid]" with numbers or names, and refuses root
// unless allowRoot. Whether a name exists depends on the base, and is
// checked once the base is known.
func checkUser(user string, allowRoot bool) error {
	if user == "" {
		return nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	if uid, ok := base.ParseID(u); ok {
		if uid < 0 {
			return fmt.Errorf("user %q: uid out of range", user)
		}
	} else if !userName.MatchString(u) {
		return fmt.Errorf("user %q is neither a number nor a user name: use a numeric uid[:gid], e.g. %d:%d", user, base.NonrootUID, base.NonrootUID)
	}
	if hasGroup {
		if gid, ok := base.ParseID(g); (!ok && !userName.MatchString(g)) || gid < 0 {
			return fmt.Errorf("user %q: the group must be a number or a group name, e.g. %d:%d", user, base.NonrootUID, base.NonrootUID)
		}
	}
	if isRoot(user) && !allowRoot {
		return fmt.Errorf("user %q would run the image as root: use a non-root uid such as %d, or pass --allow-root if you really mean it", user, base.NonrootUID)
	}
	return nil
}

// isRoot reports whether an OCI config's User runs as root: empty (the
// runtime's default), uid 0 or the name root.
func isRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	id, numeric := base.ParseID(u)
	return u == "" || u == "root" || (numeric && id == 0)
}
