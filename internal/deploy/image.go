package deploy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/buildercli/builder/internal/registry"
)

// Labels of the image config that the manifests repeat.
const (
	versionLabel = "org.opencontainers.image.version"
	managedBy    = "builder"
)

// ReadConfig reads the config of the image ref names, by digest, from its
// registry; of an index, the config of its first image (every platform of
// a build has the same user, ports and healthcheck).
func ReadConfig(ctx context.Context, c registry.Client, ref string) (*v1.ConfigFile, error) {
	r, err := c.Reference(ref)
	if err != nil {
		return nil, fmt.Errorf("image %q is not a valid reference: %w", ref, err)
	}
	d, ok := r.(name.Digest)
	if !ok {
		return nil, fmt.Errorf("image %q names no digest: give REPO@sha256:DIGEST, as build or publish printed it", ref)
	}
	desc, err := c.Get(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		img, err = firstImage(desc)
	} else {
		img, err = desc.Image()
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", ref, err)
	}
	return cf, nil
}

func firstImage(desc interface {
	ImageIndex() (v1.ImageIndex, error)
}) (v1.Image, error) {
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, e := range m.Manifests {
		if e.MediaType.IsImage() {
			return idx.Image(e.Digest)
		}
	}
	return nil, fmt.Errorf("the index holds no image")
}

// user reads the image's numeric uid[:gid]; the manifests need numbers to
// prove the container is not root. gid is -1 when the image names none
// (a base's bare "65532"): the runtime then takes the user's group.
func user(u string) (uid, gid int64, err error) {
	us, gs, hasGroup := strings.Cut(u, ":")
	uid, uerr := strconv.ParseInt(us, 10, 32)
	gid, gerr := int64(-1), error(nil)
	if hasGroup {
		gid, gerr = strconv.ParseInt(gs, 10, 32)
	}
	switch {
	case u == "":
		return 0, 0, fmt.Errorf("the image names no user: build it with --user UID:GID so that it runs as non-root")
	case uerr != nil || gerr != nil || uid < 0 || hasGroup && gid < 0:
		return 0, 0, fmt.Errorf("the image's user %q is not a numeric uid[:gid]: build it with --user UID:GID", u)
	case uid == 0:
		return 0, 0, fmt.Errorf("the image runs as root (user %q): the manifests run it as non-root", u)
	}
	return uid, gid, nil
}

// port is one exposed port.
type port struct {
	number int32
	proto  string // TCP, UDP or SCTP
}

// name is the port's name in the pod, e.g. tcp-8080.
func (p port) name() string { return strings.ToLower(p.proto) + "-" + strconv.Itoa(int(p.number)) }

// ports reads the image's exposed ports, sorted.
func ports(exposed map[string]struct{}) ([]port, error) {
	var out []port
	for k := range exposed {
		n, proto, _ := strings.Cut(k, "/")
		num, err := strconv.Atoi(n)
		proto = strings.ToUpper(cmp.Or(proto, "tcp"))
		if err != nil || len(validation.IsValidPortNum(num)) > 0 || !slices.Contains([]string{"TCP", "UDP", "SCTP"}, proto) {
			return nil, fmt.Errorf("the image exposes %q, which is not PORT[/tcp|udp|sctp]", k)
		}
		out = append(out, port{int32(num), proto})
	}
	slices.SortFunc(out, func(a, b port) int {
		return cmp.Or(cmp.Compare(a.number, b.number), cmp.Compare(a.proto, b.proto))
	})
	return out, nil
}

// labels are the recommended labels of every object. A version that is not
// a valid label value (a SemVer build suffix "+x") has its other characters
// replaced by "_".
func labels(name, version string) map[string]string {
	l := map[string]string{
		"app.kubernetes.io/name":       name,
		"app.kubernetes.io/managed-by": managedBy,
	}
	v := strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, version)
	if len(v) > validation.LabelValueMaxLength {
		v = v[:validation.LabelValueMaxLength]
	}
	v = strings.Trim(v, "-._")
	if v != "" {
		l["app.kubernetes.io/version"] = v
	}
	return l
}

// selector is the part of the labels that never changes between versions.
func selector(name string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": name}
}
