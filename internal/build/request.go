package build

import (
	"fmt"
	"regexp"
	"strconv"
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
	// Labels and Env are "key=value" pairs added to the image config.
	Labels []string
	Env    []string
	// Port the service listens on: exposed, and set as PORT. DefaultPort
	// when 0.
	Port int
	// SBOM and Provenance ask for the records.
	SBOM, Provenance bool
}

// DefaultPort is the port exposed when Request.Port is 0.
const DefaultPort = 8080

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
		if _, err := name.NewRepository(o.Repo); err != nil {
			return fmt.Errorf("repository %q is not a valid image name: use lowercase letters, digits and separators, e.g. registry.example.com/team/app", o.Repo)
		}
	}
	if o.Platform != "" && o.Platform != "all" {
		if _, err := platform.ParseList(o.Platform); err != nil {
			return err
		}
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("port %d is out of range: use 1 to 65535", o.Port)
	}
	if err := checkPairs("label", o.Labels); err != nil {
		return err
	}
	if err := checkPairs("env", o.Env); err != nil {
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

func checkPairs(what string, pairs []string) error {
	for _, p := range pairs {
		if k, _, ok := strings.Cut(p, "="); !ok || k == "" {
			return fmt.Errorf("--%s %q is not of the form key=value", what, p)
		}
	}
	return nil
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
	if uid, err := strconv.Atoi(u); err == nil {
		if uid < 0 || uid > 1<<31-1 {
			return fmt.Errorf("user %q: uid out of range", user)
		}
	} else if !userName.MatchString(u) {
		return fmt.Errorf("user %q is neither a number nor a user name: use a numeric uid[:gid], e.g. %d:%d", user, base.NonrootUID, base.NonrootUID)
	}
	if hasGroup {
		if gid, err := strconv.Atoi(g); (err != nil && !userName.MatchString(g)) || gid < 0 || gid > 1<<31-1 {
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
	return u == "" || u == "0" || u == "root"
}
