package pipeline_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	provenancev1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/buildercli/builder/internal/attest"
	"github.com/buildercli/builder/internal/pipeline"
	"github.com/buildercli/builder/internal/registrytest"
)

// attached is a supply-chain record as the registry holds it.
type attached struct {
	Digest       v1.Hash // of the artifact manifest
	ArtifactType string
	Subject      v1.Hash
	Blob         []byte
}

// referrers lists, through ggcr's referrers client (the API, else the
// sha256-<hex> fallback tag), the artifacts that refer to repo@subject,
// each read back whole; sorted by artifact type.
func referrers(t *testing.T, repo string, subject v1.Hash) []attached {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatalf("NewRepository(%q): %v", repo, err)
	}
	opt := remote.WithAuth(authn.Anonymous)
	idx, err := remote.Referrers(r.Digest(subject.String()), opt)
	if err != nil {
		t.Fatalf("listing the referrers of %s@%s: %v", repo, subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("reading the referrers of %s: %v", subject, err)
	}
	var out []attached
	for _, d := range im.Manifests {
		desc, err := remote.Get(r.Digest(d.Digest.String()), opt)
		if err != nil {
			t.Fatalf("fetching referrer %s: %v", d.Digest, err)
		}
		var m struct {
			ArtifactType string
			Subject      *v1.Descriptor
			Layers       []v1.Descriptor
		}
		if err := json.Unmarshal(desc.Manifest, &m); err != nil || m.Subject == nil || len(m.Layers) != 1 {
			t.Fatalf("referrer %s is no artifact manifest with a subject and one blob (%v):\n%s", d.Digest, err, desc.Manifest)
		}
		if string(m.Layers[0].MediaType) != m.ArtifactType || desc.MediaType != types.OCIManifestSchema1 {
			t.Errorf("referrer %s: artifact type %s, blob type %s, manifest type %s", d.Digest, m.ArtifactType, m.Layers[0].MediaType, desc.MediaType)
		}
		blob := registrytest.ReadBlob(t, r.Digest(m.Layers[0].Digest.String()), opt)
		out = append(out, attached{Digest: d.Digest, ArtifactType: m.ArtifactType, Subject: m.Subject.Digest, Blob: blob})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ArtifactType < out[j].ArtifactType })
	return out
}

// typesOf returns the artifact types of records.
func typesOf(records []attached) []string {
	var out []string
	for _, r := range records {
		out = append(out, r.ArtifactType)
	}
	return out
}

// recordTags lists the tags of repo that records use, sorted: sha256-<hex>
// (the referrers fallback), and no tag of cosign's (.sbom, .att).
func recordTags(t *testing.T, repo string) []string {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatalf("NewRepository(%q): %v", repo, err)
	}
	list, err := remote.List(r, remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatalf("listing tags of %s: %v", repo, err)
	}
	var out []string
	for _, tag := range list {
		if strings.HasPrefix(tag, "sha256-") {
			out = append(out, tag)
		}
	}
	sort.Strings(out)
	return out
}

// checkSPDX checks that blob is a valid SPDX document describing image.
func checkSPDX(t *testing.T, blob []byte, image v1.Hash) {
	t.Helper()
	doc, err := spdxjson.Read(bytes.NewReader(blob))
	if err != nil {
		t.Fatalf("reading the SBOM: %v", err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Errorf("spdxlib.ValidateDocument: %v", err)
	}
	ids, err := spdxlib.GetDescribedPackageIDs(doc)
	if err != nil || len(ids) != 1 {
		t.Fatalf("described packages %v (%v), want one", ids, err)
	}
	for _, p := range doc.Packages {
		if p.PackageSPDXIdentifier == ids[0] && p.PackageVersion != image.String() {
			t.Errorf("the SBOM describes %s, want the image %s", p.PackageVersion, image)
		}
	}
}

// checkStatement checks that blob is a valid in-toto statement with SLSA
// provenance about subject.
func checkStatement(t *testing.T, blob []byte, subject v1.Hash) {
	t.Helper()
	var st intoto.Statement
	if err := protojson.Unmarshal(blob, &st); err != nil {
		t.Fatalf("reading the statement: %v", err)
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
		t.Fatalf("reading the SLSA predicate: %v", err)
	}
	if err := prov.Validate(); err != nil {
		t.Errorf("Provenance.Validate: %v", err)
	}
	if s := st.GetSubject(); len(s) != 1 || s[0].GetDigest()["sha256"] != subject.Hex {
		t.Errorf("statement subject %v, want %s", s, subject)
	}
}

// childDigests returns the digests of the images of index repo@d.
func childDigests(t *testing.T, repo string, d v1.Hash) []v1.Hash {
	t.Helper()
	ref, err := name.NewDigest(repo + "@" + d.String())
	if err != nil {
		t.Fatalf("NewDigest: %v", err)
	}
	idx, err := remote.Index(ref, remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatalf("fetching the index %s: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("IndexManifest: %v", err)
	}
	var out []v1.Hash
	for _, m := range im.Manifests {
		out = append(out, m.Digest)
	}
	return out
}

func tagsFor(d v1.Hash, suffixes ...string) []string {
	var out []string
	for _, s := range suffixes {
		out = append(out, "sha256-"+d.Hex+s)
	}
	return out
}

func TestPublishAttachesRecords(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	res := run(t, options(committed(t, nil), reg.Host+"/app", "v1.0.0"))
	repo := reg.Direct + "/app"
	recs := referrers(t, repo, res.Digest)
	if diff := cmp.Diff([]string{attest.SPDXMediaType, attest.InTotoMediaType}, typesOf(recs)); diff != "" {
		t.Fatalf("artifact types of the referrers (-want +got):\n%s", diff)
	}
	for _, r := range recs {
		if r.Subject != res.Digest {
			t.Errorf("%s artifact refers to %s, want the image %s", r.ArtifactType, r.Subject, res.Digest)
		}
	}
	checkSPDX(t, recs[0].Blob, res.Digest)
	checkStatement(t, recs[1].Blob, res.Digest)
	want := tagsFor(res.Digest, "")
	if diff := cmp.Diff(want, recordTags(t, repo)); diff != "" {
		t.Errorf("record tags (-want +got):\n%s", diff)
	}
}

func TestPublishAttachesRecordsPerPlatform(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	o := options(committed(t, nil), reg.Host+"/app", "v1.0.0")
	o.Build.Platform = "linux/amd64,linux/arm64"
	res := run(t, o)
	repo := reg.Direct + "/app"
	recs := referrers(t, repo, res.Digest)
	if diff := cmp.Diff([]string{attest.InTotoMediaType}, typesOf(recs)); diff != "" {
		t.Fatalf("the index's referrers: only the provenance (-want +got):\n%s", diff)
	}
	checkStatement(t, recs[0].Blob, res.Digest)
	children := childDigests(t, repo, res.Digest)
	if len(children) != 2 {
		t.Fatalf("the index has %d images, want 2", len(children))
	}
	want := tagsFor(res.Digest, "")
	for _, c := range children {
		recs := referrers(t, repo, c)
		if diff := cmp.Diff([]string{attest.SPDXMediaType}, typesOf(recs)); diff != "" {
			t.Fatalf("the referrers of image %s: its SBOM (-want +got):\n%s", c, diff)
		}
		checkSPDX(t, recs[0].Blob, c)
		want = append(want, tagsFor(c, "")...)
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, recordTags(t, repo)); diff != "" {
		t.Errorf("record tags (-want +got):\n%s", diff)
	}
}

func TestPublishRecordsTurnedOff(t *testing.T) {
	t.Parallel()
	pkg := committed(t, nil)
	for _, tc := range []struct {
		name, sbom, provenance string
		want                   []string
	}{
		{"both off", pipeline.None, pipeline.None, nil},
		{"SBOM off", pipeline.None, "", []string{attest.InTotoMediaType}},
		{"provenance off", "", pipeline.None, []string{attest.SPDXMediaType}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{})
			o := options(pkg, reg.Host+"/app", "v1.0.0")
			o.SBOM, o.Provenance = tc.sbom, tc.provenance
			res := run(t, o)
			repo := reg.Direct + "/app"
			if diff := cmp.Diff(tc.want, typesOf(referrers(t, repo, res.Digest))); diff != "" {
				t.Errorf("artifact types of the referrers (-want +got):\n%s", diff)
			}
			var want []string
			switch {
			case tc.want == nil:
			case tc.sbom == pipeline.None:
				want = tagsFor(res.Digest, "")
			default:
				want = tagsFor(res.Digest, "")
			}
			if diff := cmp.Diff(want, recordTags(t, repo)); diff != "" {
				t.Errorf("record tags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPublishRecordsRepublished(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	o := options(committed(t, nil), reg.Host+"/app", "v1.0.0")
	first := run(t, o)
	repo := reg.Direct + "/app"
	before := referrers(t, repo, first.Digest)
	if len(before) != 2 {
		t.Fatalf("%d records, want the SBOM and the provenance", len(before))
	}
	tagsBefore := recordTags(t, repo)
	second := run(t, o)
	if second.Digest != first.Digest {
		t.Fatalf("republishing gave %s, then %s", first.Digest, second.Digest)
	}
	if diff := cmp.Diff(before, referrers(t, repo, first.Digest)); diff != "" {
		t.Errorf("republishing changed the records (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(tagsBefore, recordTags(t, repo)); diff != "" {
		t.Errorf("republishing changed the record tags (-first +second):\n%s", diff)
	}
	// Another registry, the same commit: the same records, byte for byte.
	other := registrytest.New(t, registrytest.Config{})
	o.Repo = other.Host + "/app"
	third := run(t, o)
	again := referrers(t, other.Direct+"/app", third.Digest)
	if diff := cmp.Diff(typesOf(before), typesOf(again)); diff != "" {
		t.Fatalf("artifact types (-first +other registry):\n%s", diff)
	}
	if third.Digest != first.Digest {
		t.Fatalf("the same commit gave %s, then %s", first.Digest, third.Digest)
	}
	for i := range before {
		// The records name the repository, which differs; nothing else may.
		if a, b := withoutHost(before[i].Blob, reg.Host), withoutHost(again[i].Blob, other.Host); !bytes.Equal(a, b) {
			t.Errorf("%s record of the same commit differs between two publishes:\n%s\n---\n%s", before[i].ArtifactType, a, b)
		}
	}
}

// withoutHost replaces host in data, as is and query-escaped, by HOST.
func withoutHost(data []byte, host string) []byte {
	data = bytes.ReplaceAll(data, []byte(host), []byte("HOST"))
	return bytes.ReplaceAll(data, []byte(url.QueryEscape(host)), []byte("HOST"))
}

func TestPublishRecordsReferrersAPI(t *testing.T) {
	t.Parallel()
	host := registrytest.New(t, registrytest.Config{Referrers: true}).Host
	res := run(t, options(committed(t, nil), host+"/app", "v1.0.0"))
	recs := referrers(t, host+"/app", res.Digest)
	if diff := cmp.Diff([]string{attest.SPDXMediaType, attest.InTotoMediaType}, typesOf(recs)); diff != "" {
		t.Fatalf("artifact types of the referrers (-want +got):\n%s", diff)
	}
	checkSPDX(t, recs[0].Blob, res.Digest)
	checkStatement(t, recs[1].Blob, res.Digest)
	// The registry lists referrers itself: no fallback tag, and no tag of
	// cosign's.
	if diff := cmp.Diff(tagsFor(res.Digest), recordTags(t, host+"/app"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("record tags (-want +got):\n%s", diff)
	}
}
