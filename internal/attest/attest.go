// Package attest makes the supply-chain records of a build: an SPDX 2.3 SBOM
// for each image and an in-toto statement with a SLSA provenance predicate
// for what was published. Both are functions of the build's inputs alone, so
// that the same commit gives the same records.
package attest

import (
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Media types of the records, used as OCI artifact types.
const (
	SPDXMediaType   = "application/spdx+json"
	InTotoMediaType = "application/vnd.in-toto+json"
)

// Input is what the records describe.
type Input struct {
	// Name is the image's repository in full, as ggcr spells it: e.g.
	// ghcr.io/acme/app, or index.docker.io/library/app for a bare "app".
	Name string
	// GivenName is the image's name as the user gave it: the repository
	// asked for (--repo), else the image's own name (the package
	// directory's, "app"). The records name the image by it, as given, so
	// that an image built without a repository is not recorded under
	// Docker Hub's index.docker.io/library/app, which nobody asked for.
	// Empty means Name.
	GivenName string
	// App is the main package's import path; Version its injected version.
	App, Version string
	// Commit, Source and Created describe the checkout.
	Commit, Source string
	Created        time.Time
	// Base names the base as the labels do; BaseDigest is what it resolved
	// to (the index, or the image).
	Base       string
	BaseDigest v1.Hash
	// Subject is the image, or the index of images, published.
	Subject v1.Descriptor
	// Images are the platforms' images.
	Images []Image
	// Build holds the go build settings; BuilderVersion is builder's own.
	Build          BuildSettings
	BuilderVersion string
}

// imageName is how the records name the image: GivenName, else Name.
func (in Input) imageName() string {
	if in.GivenName != "" {
		return in.GivenName
	}
	return in.Name
}

// Records are the SBOM of each image, in the order of Input.Images, and the
// provenance of the subject; nil where not asked for.
type Records struct {
	SBOMs      [][]byte
	Provenance []byte
}

// Make returns the records asked for.
func Make(in Input, sbom, provenance bool) (Records, error) {
	var r Records
	if sbom {
		for _, img := range in.Images {
			doc, err := SBOM(in, img)
			if err != nil {
				return Records{}, err
			}
			r.SBOMs = append(r.SBOMs, doc)
		}
	}
	if provenance {
		st, err := Provenance(in)
		if err != nil {
			return Records{}, err
		}
		r.Provenance = st
	}
	return r, nil
}

// Image is one platform's image.
type Image struct {
	Descriptor v1.Descriptor
	// BaseDigest is the digest of the base image for this platform.
	BaseDigest v1.Hash
	// Binary is the compiled binary, read for its module list.
	Binary string
}

// BuildSettings are the go build settings recorded in the provenance.
type BuildSettings struct {
	Package string   `json:"package"`
	Flags   []string `json:"flags"`
	Ldflags string   `json:"ldflags"`
	Env     []string `json:"env"`
}
