package build

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/gobuild"
	"github.com/buildercli/builder/internal/push"
	"github.com/buildercli/builder/internal/tags"
	"github.com/buildercli/builder/internal/vcs"
)

// Options are the settings of one build. Zero values give the defaults the
// field documents.
type Options struct {
	// Path is the main package's directory; "./app" when empty.
	Path string
	// Tag is the image tag and the version injected into the binary;
	// `git describe --tags --always --dirty` when empty.
	Tag string
	// Repo names the image in a tarball's or layout's references; the
	// package directory's name when empty.
	Repo string
	// Platform is "os/arch[/variant]"; .ko.yaml's defaultPlatforms, else
	// linux on the host's architecture (HostArch), when empty.
	Platform string
	// HostArch is the architecture of the machine running the build.
	HostArch string
	// Base is the base image, in bases.Syntax; .ko.yaml's, else the
	// built-in base, when empty.
	Base string
	// Registry reaches a registry base.
	Registry push.Remote
	// Insecure lists registries (host[:port]) that may be reached over
	// plain HTTP although they are not on loopback.
	Insecure []string
	// User runs the image, "uid[:gid]" or a name of the base; 65532:65532
	// when empty. Root is refused unless AllowRoot.
	User      string
	AllowRoot bool
	// Labels and Env are "key=value" pairs added to the image config.
	Labels []string
	Env    []string
	// Port the service listens on: exposed, and set as PORT. 8080 when 0.
	Port int
	// Tarball and OCILayout are where the image is written; at least one.
	Tarball   string
	OCILayout string
	// KoConfig is the path of .ko.yaml; the module root's when empty.
	KoConfig string
	// SourceDateEpoch, when set, is the image's creation time in Unix
	// seconds, instead of the commit's.
	SourceDateEpoch string
	// Environ is the environment the compiler starts from.
	Environ []string
	// CacheDir holds compiled binaries and compressed layers between
	// builds; when empty nothing is kept.
	CacheDir string
	// SBOM and Provenance are files to write the records to; "" or None
	// for none. (publish attaches them to the image unless None.)
	SBOM, Provenance string
	// BuilderVersion is builder's own version, for the records.
	BuilderVersion string
	// Trace, when set, times the phases of the build.
	Trace *Stopwatch
	// Git, when set, is the checkout's state already read by the caller;
	// otherwise Image reads it.
	Git *vcs.Info
}

// DefaultPath is the package built when Options.Path is empty.
const DefaultPath = "./app"

// DefaultPort is the port exposed when Options.Port is 0.
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

// validate checks every setting that needs no file or command, so that bad
// input fails before anything is compiled or written.
func (o *Options) validate() error {
	if o.Tag != "" {
		if err := tags.Validate(o.Tag); err != nil {
			return err
		}
	}
	if o.Repo != "" {
		if _, err := name.NewRepository(o.Repo); err != nil {
			return fmt.Errorf("repository %q is not a valid image name: use lowercase letters, digits and separators, e.g. registry.example.com/team/app", o.Repo)
		}
	}
	if o.Tarball != "" && (strings.Contains(o.Platform, ",") || o.Platform == "all") {
		return errTarballIndex
	}
	if o.Platform != "" && o.Platform != "all" {
		for _, p := range strings.Split(o.Platform, ",") {
			if _, err := gobuild.ParsePlatform(strings.TrimSpace(p)); err != nil {
				return err
			}
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
		if derivedLabels[k] {
			return fmt.Errorf("label %s is set by builder from the build itself and cannot be overridden", k)
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
