package attest_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	provenancev1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/buildercli/builder/internal/attest"
)

// readProvenance parses a statement with the in-toto bindings, strictly
// (an unknown field is an error), and validates the statement and its SLSA
// predicate.
func readProvenance(t *testing.T, data []byte) (*intoto.Statement, *provenancev1.Provenance) {
	t.Helper()
	var st intoto.Statement
	if err := protojson.Unmarshal(data, &st); err != nil {
		t.Fatalf("reading the statement with the in-toto bindings: %v\n%s", err, data)
	}
	if err := st.Validate(); err != nil {
		t.Errorf("Statement.Validate: %v", err)
	}
	raw, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		t.Fatalf("encoding the predicate: %v", err)
	}
	var prov provenancev1.Provenance
	if err := protojson.Unmarshal(raw, &prov); err != nil {
		t.Fatalf("reading the predicate as SLSA provenance v1: %v\n%s", err, raw)
	}
	if err := prov.Validate(); err != nil {
		t.Errorf("Provenance.Validate: %v", err)
	}
	return &st, &prov
}

// dep is a resolved dependency as the tests compare it.
type dep struct {
	URI    string
	Digest map[string]string
}

func TestProvenance(t *testing.T) {
	binary := appBinary(t)
	bi := readBuildInfo(t, binary)
	registry := input(binary)
	builtin := input(binary)
	builtin.Base, builtin.BaseDigest = "builtin:static", v1.Hash{}
	builtin.Commit, builtin.Source = "", ""
	noSource := input(binary)
	noSource.Source = ""
	for _, tc := range []struct {
		name string
		in   attest.Input
		deps []dep
	}{
		{"registry base, git checkout", registry, []dep{
			{"git+https://github.com/acme/hello", map[string]string{"gitCommit": commit}},
			{registry.Base, map[string]string{"sha256": registry.BaseDigest.Hex}},
		}},
		// What URI names a checkout without a remote is left open ("").
		{"a commit without a remote", noSource, []dep{
			{"", map[string]string{"gitCommit": commit}},
			{noSource.Base, map[string]string{"sha256": noSource.BaseDigest.Hex}},
		}},
		// The built-in base has no one digest: the first image's stands.
		{"built-in base, no git", builtin, []dep{
			{"builtin:static", map[string]string{"sha256": builtin.Images[0].BaseDigest.Hex}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := attest.Provenance(tc.in)
			if err != nil {
				t.Fatalf("Provenance: %v", err)
			}
			st, prov := readProvenance(t, data)
			if st.GetType() != intoto.StatementTypeUri || st.GetPredicateType() != attest.ProvenanceType {
				t.Errorf("statement type %s, predicate type %s", st.GetType(), st.GetPredicateType())
			}
			var subjects []dep
			for _, s := range st.GetSubject() {
				subjects = append(subjects, dep{s.GetName(), s.GetDigest()})
			}
			if diff := cmp.Diff([]dep{{tc.in.Name, map[string]string{"sha256": tc.in.Subject.Digest.Hex}}}, subjects); diff != "" {
				t.Errorf("subject (-want +got):\n%s", diff)
			}
			bd := prov.GetBuildDefinition()
			var deps []dep
			for i, d := range bd.GetResolvedDependencies() {
				uri := d.GetUri()
				if i < len(tc.deps) && tc.deps[i].URI == "" {
					uri = ""
				}
				deps = append(deps, dep{uri, d.GetDigest()})
			}
			if diff := cmp.Diff(tc.deps, deps); diff != "" {
				t.Errorf("resolved dependencies (-want +got):\n%s", diff)
			}
			internal := bd.GetInternalParameters().AsMap()
			wantInternal := map[string]any{
				"goVersion": bi.GoVersion, "ldflags": tc.in.Build.Ldflags,
				"flags": []any{"-trimpath"}, "env": []any{"CGO_ENABLED=0", "GOEXPERIMENT=none"},
			}
			if diff := cmp.Diff(wantInternal, internal); diff != "" {
				t.Errorf("internal parameters (-want +got):\n%s", diff)
			}
			external := bd.GetExternalParameters().AsMap()
			wantExternal := map[string]any{"version": "v1.2.3", "package": "./cmd/hello",
				"platforms": []any{"linux/amd64", "linux/arm64"}, "base": tc.in.Base}
			if tc.in.Source != "" {
				wantExternal["source"] = tc.in.Source
			}
			if diff := cmp.Diff(wantExternal, external); diff != "" {
				t.Errorf("external parameters (-want +got):\n%s", diff)
			}
			if bd.GetBuildType() != attest.BuildType {
				t.Errorf("build type %s, want %s", bd.GetBuildType(), attest.BuildType)
			}
			rd := prov.GetRunDetails()
			if got := rd.GetBuilder().GetId(); got != "https://github.com/buildercli/builder@v0.9.0" {
				t.Errorf("builder id %s", got)
			}
			if got := rd.GetMetadata().GetFinishedOn().AsTime(); !got.Equal(tc.in.Created) || got.Location() != time.UTC {
				t.Errorf("finishedOn %v, want the commit's time %v", got, tc.in.Created)
			}
			again, err := attest.Provenance(tc.in)
			if err != nil {
				t.Fatalf("Provenance: %v", err)
			}
			if !bytes.Equal(data, again) {
				t.Errorf("two provenances of the same input differ")
			}
		})
	}
}

func TestProvenanceEmptyFlagsAreAList(t *testing.T) {
	in := input(tinyBinary(t))
	in.Build.Flags, in.Build.Env = nil, nil
	data, err := attest.Provenance(in)
	if err != nil {
		t.Fatalf("Provenance: %v", err)
	}
	_, prov := readProvenance(t, data)
	got := prov.GetBuildDefinition().GetInternalParameters().AsMap()
	if diff := cmp.Diff([]any{}, got["flags"]); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"CGO_ENABLED=0"}, got["env"]); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}
