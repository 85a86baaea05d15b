package attest

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"time"
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

type resourceDescriptor struct {
	URI    string            `json:"uri"`
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
	deps := []resourceDescriptor{{URI: in.Base, Digest: map[string]string{"sha256": baseDigest.Hex}}}
	if in.Commit != "" {
		uri := in.Source
		if uri == "" {
			uri = "git"
		}
		deps = append([]resourceDescriptor{{URI: "git+" + uri, Digest: map[string]string{"gitCommit": in.Commit}}}, deps...)
	}
	flags := in.Build.Flags
	if flags == nil {
		flags = []string{}
	}
	env := append([]string{"CGO_ENABLED=0"}, in.Build.Env...)
	st := statement{
		Type:          StatementType,
		Subject:       []subject{{Name: in.Name, Digest: map[string]string{"sha256": in.Subject.Digest.Hex}}},
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
