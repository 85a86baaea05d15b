package base

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/buildercli/builder/internal/layers"
)

// Version names the content of the built-in base. Bump it whenever Layer's
// entries change; it is written to /etc/os-release.
const Version = "1"

// BuiltinName is how the built-in base is named on the command line and in the
// org.opencontainers.image.base.name label.
const BuiltinName = "builtin:static"

// CertFile is where the CA bundle lives inside the image.
const CertFile = "/etc/ssl/certs/ca-certificates.crt"

// Env is the environment the built-in base sets.
var Env = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"SSL_CERT_FILE=" + CertFile,
}

// Entries lists the files of the built-in base: accounts, CA roots,
// name-service switch, os-release, /tmp and the non-root home.
func Entries() ([]layers.Entry, error) {
	certs, _, err := CABundle()
	if err != nil {
		return nil, err
	}
	return []layers.Entry{
		{Path: "etc", Dir: true, Mode: 0o755},
		{Path: "etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Path: "etc/group", Mode: 0o644, Data: []byte(group)},
		{Path: "etc/nsswitch.conf", Mode: 0o644, Data: []byte(nsswitch)},
		{Path: "etc/os-release", Mode: 0o644, Data: []byte(osRelease)},
		{Path: CertFile, Mode: 0o644, Data: certs},
		{Path: "home/nonroot", Dir: true, Mode: 0o755, UID: NonrootUID, GID: NonrootUID},
		{Path: "root", Dir: true, Mode: 0o700},
		{Path: "tmp", Dir: true, Mode: 0o1777},
	}, nil
}

// BuiltinLayer returns the single layer of the built-in base, streamed.
func BuiltinLayer() (v1.Layer, error) {
	entries, err := Entries()
	if err != nil {
		return nil, err
	}
	return layers.NewLayer(entries)
}

// Builtin returns the built-in base for one platform: the base layer under
// an OCI config that runs as nonroot in its home. It is a distroless-static
// equivalent made from pinned sources, so that builds need no pull and no
// network.
func Builtin(p v1.Platform) (v1.Image, error) {
	l, err := BuiltinLayer()
	if err != nil {
		return nil, fmt.Errorf("building the base layer: %w", err)
	}
	return BuiltinWith(p, l)
}

// BuiltinWith is Builtin with the base layer given, as a cache serves it; l
// must hold what Entries lists.
func BuiltinWith(p v1.Platform, l v1.Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:     l,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: layers.Epoch}, CreatedBy: "builder built-in base " + Version},
	})
	if err != nil {
		return nil, fmt.Errorf("appending the base layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the base config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: layers.Epoch}
	cf.OS = p.OS
	cf.Architecture = p.Architecture
	cf.Variant = p.Variant
	cf.Config.User = fmt.Sprintf("%d:%d", NonrootUID, NonrootUID)
	cf.Config.WorkingDir = NonrootHome
	cf.Config.Env = append([]string(nil), Env...)
	return mutate.ConfigFile(img, cf)
}
