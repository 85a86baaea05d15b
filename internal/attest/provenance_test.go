package attest_test

import (
	"bytes"
	"net/url"
	"regexp"
	"strings"
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

// dep is a resolved dependency, or a subject, as the tests compare it.
type dep struct {
	Name, URI string
	Digest    map[string]string
}

// uriSyntax is RFC 3986's URI: a scheme, then only the characters a URI may
// hold (unreserved, reserved, and percent-encodings).
var uriSyntax = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:([A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=-]|%[0-9A-Fa-f]{2})+$`)

// checkURI fails t unless s is an absolute URI.
func checkURI(t *testing.T, what, s string) {
	t.Helper()
	if u, err := url.Parse(s); err != nil || !u.IsAbs() || !uriSyntax.MatchString(s) {
		t.Errorf("%s %q is not a URI (RFC 3986)", what, s)
	}
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
	upper := input(binary)
	upper.Source = "https://GitHub.com:443/Acme/Hello"
	layout := input(binary)
	layout.Base = "oci:/home/me/my bases:v1"
	// The base's purl: a registry reference (host:port/repo:tag) is no URI.
	basePurl := "pkg:oci/base@sha256%3A" + registry.BaseDigest.Hex + "?repository_url=127.0.0.1%3A5000%2Fbase"
	for _, tc := range []struct {
		name string
		in   attest.Input
		deps []dep
	}{
		{"registry base, git checkout", registry, []dep{
			{"", "git+https://github.com/acme/hello", map[string]string{"gitCommit": commit}},
			{"", basePurl, map[string]string{"sha256": registry.BaseDigest.Hex}},
		}},
		// A checkout without a remote (or with one on this machine) has no
		// URI: the commit alone says which code it is.
		{"a commit without a remote", noSource, []dep{
			{"", "", map[string]string{"gitCommit": commit}},
			{"", basePurl, map[string]string{"sha256": noSource.BaseDigest.Hex}},
		}},
		// The built-in base has no one digest: the first image's stands. It
		// lives nowhere but in builder, so it has a name and no URI.
		{"built-in base, no git", builtin, []dep{
			{"builtin:static", "", map[string]string{"sha256": builtin.Images[0].BaseDigest.Hex}},
		}},
		// in-toto wants the scheme and the host in lowercase; the path is
		// the remote's.
		{"a remote in capitals", upper, []dep{
			{"", "git+https://github.com:443/Acme/Hello", map[string]string{"gitCommit": commit}},
			{"", basePurl, map[string]string{"sha256": upper.BaseDigest.Hex}},
		}},
		{"base from an OCI layout", layout, []dep{
			{"", "git+https://github.com/acme/hello", map[string]string{"gitCommit": commit}},
			{layout.Base, "", map[string]string{"sha256": layout.BaseDigest.Hex}},
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
				subjects = append(subjects, dep{Name: s.GetName(), Digest: s.GetDigest()})
			}
			if diff := cmp.Diff([]dep{{Name: tc.in.Name, Digest: map[string]string{"sha256": tc.in.Subject.Digest.Hex}}}, subjects); diff != "" {
				t.Errorf("subject (-want +got):\n%s", diff)
			}
			bd := prov.GetBuildDefinition()
			var deps []dep
			for _, d := range bd.GetResolvedDependencies() {
				if d.GetUri() != "" {
					checkURI(t, "resolved dependency", d.GetUri())
				}
				deps = append(deps, dep{d.GetName(), d.GetUri(), d.GetDigest()})
			}
			if diff := cmp.Diff(tc.deps, deps); diff != "" {
				t.Errorf("resolved dependencies (-want +got):\n%s", diff)
			}
			checkURI(t, "build type", bd.GetBuildType())
			checkURI(t, "builder id", prov.GetRunDetails().GetBuilder().GetId())
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

// TestProvenanceEnvHasNoDuplicates: CGO_ENABLED=0, which builder always
// sets, is not repeated when the build env sets it too, and a variable set
// twice is listed once, where it first appears, with the value the go
// command ends with (the last).
func TestProvenanceEnvHasNoDuplicates(t *testing.T) {
	in := input(tinyBinary(t))
	for _, tc := range []struct {
		name string
		env  []string
		want []any
	}{
		{"none", nil, []any{"CGO_ENABLED=0"}},
		{"CGO_ENABLED=0 in the build env", []string{"CGO_ENABLED=0", "GOEXPERIMENT=none"},
			[]any{"CGO_ENABLED=0", "GOEXPERIMENT=none"}},
		{"a variable twice", []string{"GOFLAGS=-v", "GOEXPERIMENT=none", "GOFLAGS=-x", "GOEXPERIMENT=none", "CGO_ENABLED=0"},
			[]any{"CGO_ENABLED=0", "GOFLAGS=-x", "GOEXPERIMENT=none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in.Build.Env = tc.env
			data, err := attest.Provenance(in)
			if err != nil {
				t.Fatalf("Provenance: %v", err)
			}
			_, prov := readProvenance(t, data)
			got := prov.GetBuildDefinition().GetInternalParameters().AsMap()["env"]
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRecordsNameTheImageAsGiven: an image built without a repository is
// named by its own name in both records, never by the Docker Hub name
// (index.docker.io/library/app) that ggcr makes of a bare "app"; a
// repository asked for is named as it was given.
func TestRecordsNameTheImageAsGiven(t *testing.T) {
	binary := tinyBinary(t)
	for _, tc := range []struct {
		name, full, given, want, wantPurl string
	}{
		{"no repository", "index.docker.io/library/app", "app", "app", "pkg:oci/app@sha256%3A{hex}?arch=amd64"},
		{"a repository", "ghcr.io/acme/app", "ghcr.io/acme/app", "ghcr.io/acme/app",
			"pkg:oci/app@sha256%3A{hex}?arch=amd64&repository_url=ghcr.io%2Facme%2Fapp"},
		{"Docker Hub asked for", "index.docker.io/acme/app", "docker.io/acme/app", "docker.io/acme/app",
			"pkg:oci/app@sha256%3A{hex}?arch=amd64&repository_url=docker.io%2Facme%2Fapp"},
		{"no given name", "registry.example.com/team/hello", "", "registry.example.com/team/hello",
			"pkg:oci/hello@sha256%3A{hex}?arch=amd64&repository_url=registry.example.com%2Fteam%2Fhello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(binary)
			in.Name, in.GivenName = tc.full, tc.given
			data, err := attest.Provenance(in)
			if err != nil {
				t.Fatalf("Provenance: %v", err)
			}
			st, _ := readProvenance(t, data)
			if s := st.GetSubject(); len(s) != 1 || s[0].GetName() != tc.want {
				t.Errorf("provenance subject %v, want the name %s", s, tc.want)
			}
			img := in.Images[0]
			sbom, err := attest.SBOM(in, img)
			if err != nil {
				t.Fatalf("SBOM: %v", err)
			}
			doc, pkgs, _ := readSBOM(t, sbom)
			wantPurl := strings.ReplaceAll(tc.wantPurl, "{hex}", img.Descriptor.Digest.Hex)
			if diff := cmp.Diff([]string{tc.want, wantPurl}, []string{pkgs["Image"].Name, pkgs["Image"].Purl}); diff != "" {
				t.Errorf("SBOM image name and purl (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(doc.DocumentName, tc.want+" ") || strings.Contains(string(sbom), "index.docker.io") {
				t.Errorf("SBOM %q names the image otherwise than %s", doc.DocumentName, tc.want)
			}
		})
	}
}
