package attest

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// In-toto and SLSA identifiers.
const (
	StatementType  = "https://in-toto.io/Statement/v1"
	ProvenanceType = "https://slsa.dev/provenance/v1"
	BuildType      = "https://github.com/buildercli/builder/buildtypes/go-image/v1"
)

// The statement is written with these structs rather than with the in-toto
// libraries: their Go types are protobuf messages, whose JSON encoding is
// deliberately unstable, and a record must be byte-identical for the same
// commit. Tests check the output with those libraries.

type statement struct {
	Type          string     `json:"_type"`
	Subject       []subject  `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     provenance `json:"predicate"`
}

type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

type provenance struct {
	BuildDefinition buildDefinition `json:"buildDefinition"`
	RunDetails      runDetails      `json:"runDetails"`
}

type buildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   externalParameters   `json:"externalParameters"`
	InternalParameters   internalParameters   `json:"internalParameters"`
	ResolvedDependencies []resourceDescriptor `json:"resolvedDependencies"`
}

type externalParameters struct {
	Source    string   `json:"source,omitempty"`
	Version   string   `json:"version"`
	Package   string   `json:"package"`
	Platforms []string `json:"platforms"`
	Base      string   `json:"base"`
}

type internalParameters struct {
	GoVersion string   `json:"goVersion"`
	Flags     []string `json:"flags"`
	Ldflags   string   `json:"ldflags"`
	Env       []string `json:"env"`
}

// resourceDescriptor is an in-toto ResourceDescriptor: it needs one of a
// URI, a digest or content. Every URI is an RFC 3986 URI; a resource that
// has none (a checkout without a remote, a base read from a file) has a
// digest, and a name when one helps.
type resourceDescriptor struct {
	Name   string            `json:"name,omitempty"`
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest"`
}

type runDetails struct {
	Builder  builderID `json:"builder"`
	Metadata metadata  `json:"metadata"`
}

type builderID struct {
	ID string `json:"id"`
}

type metadata struct {
	// The build's only time is the commit's: builds are reproducible.
	FinishedOn string `json:"finishedOn"`
}

// Provenance returns the in-toto Statement v1, with a SLSA Provenance v1
// predicate, of the subject: the source and commit, the base by digest, the
// Go toolchain, and the build settings.
func Provenance(in Input) ([]byte, error) {
	if len(in.Images) == 0 {
		return nil, fmt.Errorf("no image to record")
	}
	bi, err := buildinfo.ReadFile(in.Images[0].Binary)
	if err != nil {
		return nil, fmt.Errorf("reading the build info of %s: %w", in.Images[0].Binary, err)
	}
	baseDigest := in.BaseDigest
	if baseDigest.Hex == "" {
		baseDigest = in.Images[0].BaseDigest
	}
	platforms := make([]string, len(in.Images))
	for i, img := range in.Images {
		platforms[i] = img.Descriptor.Platform.String()
	}
	deps := []resourceDescriptor{baseDependency(in.Base, baseDigest)}
	if in.Commit != "" {
		deps = append([]resourceDescriptor{sourceDependency(in.Source, in.Commit)}, deps...)
	}
	flags := in.Build.Flags
	if flags == nil {
		flags = []string{}
	}
	env := dedupeEnv(append([]string{"CGO_ENABLED=0"}, in.Build.Env...))
	st := statement{
		Type:          StatementType,
		Subject:       []subject{{Name: in.imageName(), Digest: map[string]string{"sha256": in.Subject.Digest.Hex}}},
		PredicateType: ProvenanceType,
		Predicate: provenance{
			BuildDefinition: buildDefinition{
				BuildType: BuildType,
				ExternalParameters: externalParameters{
					Source: in.Source, Version: in.Version, Package: in.Build.Package,
					Platforms: platforms, Base: in.Base,
				},
				InternalParameters: internalParameters{
					GoVersion: bi.GoVersion, Flags: flags, Ldflags: in.Build.Ldflags, Env: env,
				},
				ResolvedDependencies: deps,
			},
			RunDetails: runDetails{
				Builder:  builderID{ID: "https://github.com/buildercli/builder@" + in.BuilderVersion},
				Metadata: metadata{FinishedOn: in.Created.UTC().Format(time.RFC3339)},
			},
		},
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the provenance: %w", err)
	}
	return append(data, '\n'), nil
}

// sourceDependency is the checkout at commit. Its URI is the remote as SPDX
// names a git download location (git+https://host/org/repo), scheme and
// host in lowercase as in-toto requires; a checkout with no remote, or one
// on this machine, has none, only the commit.
func sourceDependency(source, commit string) resourceDescriptor {
	d := resourceDescriptor{Digest: map[string]string{"gitCommit": commit}}
	if u, err := url.Parse(source); err == nil && u.Scheme != "" && u.Host != "" {
		u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
		d.URI = "git+" + u.String()
	}
	return d
}

// Bases that no registry holds, as internal/base names them.
var localBases = []string{"builtin:", "oci:", "docker-archive:"}

// baseDependency is the base that resolved to digest. A registry base's URI
// is its package URL (pkg:oci/NAME@sha256%3AHEX?repository_url=REPO), one
// of the two forms in-toto recommends: a reference such as 127.0.0.1:5000/base:v1 is no
// URI. The built-in base and a base read from a file are nowhere else to
// be found: they keep the name the labels give them, with no URI.
func baseDependency(base string, digest v1.Hash) resourceDescriptor {
	d := resourceDescriptor{Digest: map[string]string{"sha256": digest.Hex}}
	for _, prefix := range localBases {
		if strings.HasPrefix(base, prefix) {
			d.Name = base
			return d
		}
	}
	d.URI = purlOCI(base, digest.Hex, "")
	return d
}

// dedupeEnv returns env with each variable once, where it first appears,
// with the value it ends with (the last, as the go command sees it).
func dedupeEnv(env []string) []string {
	last := map[string]string{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = kv
	}
	out := make([]string, 0, len(last))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := last[k]; ok {
			out = append(out, v)
			delete(last, k)
		}
	}
	return out
}
