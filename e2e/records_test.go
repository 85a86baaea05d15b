package e2e

// Supply-chain records on a real registry: Debian's docker-registry
// (distribution 2.8) has no referrers API, so records are found through the
// sha256-<digest> fallback tag, here by ggcr's referrers client, which
// builder did not drive.

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	intoto "github.com/in-toto/attestation/go/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/buildercli/builder/internal/registrytest"
)

// Artifact types of builder's records.
const (
	spdxType   = "application/spdx+json"
	intotoType = "application/vnd.in-toto+json"
)

// remoteOptions reach r with its CA trusted and its credentials.
func (r *registry) remoteOptions(t *testing.T) []remote.Option {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: certPool(t, r.caFile)}
	return []remote.Option{remote.WithTransport(tr), remote.WithAuth(&authn.Basic{Username: regUser, Password: regPass})}
}

// records returns the blob of each artifact referring to repo@digest, by
// artifact type, as ggcr's referrers client finds them.
func (r *registry) records(t *testing.T, repo, digest string) map[string][]byte {
	t.Helper()
	d, err := name.NewDigest(repo + "@" + digest)
	if err != nil {
		t.Fatalf("NewDigest: %v", err)
	}
	opts := r.remoteOptions(t)
	idx, err := remote.Referrers(d, opts...)
	if err != nil {
		t.Fatalf("listing the referrers of %s: %v", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("reading the referrers of %s: %v", d, err)
	}
	out := map[string][]byte{}
	for _, desc := range im.Manifests {
		got, err := remote.Get(d.Context().Digest(desc.Digest.String()), opts...)
		if err != nil {
			t.Fatalf("fetching referrer %s: %v", desc.Digest, err)
		}
		var m struct {
			ArtifactType string
			Subject      *v1.Descriptor
			Layers       []v1.Descriptor
		}
		if err := json.Unmarshal(got.Manifest, &m); err != nil || m.Subject == nil || len(m.Layers) != 1 {
			t.Fatalf("referrer %s is no artifact with a subject and one blob (%v):\n%s", desc.Digest, err, got.Manifest)
		}
		if m.Subject.Digest.String() != digest || desc.ArtifactType != m.ArtifactType {
			t.Errorf("referrer %s: subject %s, artifact type %q (listed as %q); want subject %s", desc.Digest, m.Subject.Digest, m.ArtifactType, desc.ArtifactType, digest)
		}
		blob := registrytest.ReadBlob(t, d.Context().Digest(m.Layers[0].Digest.String()), opts...)
		out[m.ArtifactType] = blob
	}
	return out
}

// recordTags lists repo's (a path in r) tags of records: sha256-<hex>
// and no tag of cosign's (sha256-<hex>.sbom or .att).
func (r *registry) recordTags(t *testing.T, repo string) []string {
	t.Helper()
	var out []string
	for _, tag := range strings.Fields(r.mustCrane(t, "ls", r.host+"/"+repo)) {
		if strings.HasPrefix(tag, "sha256-") {
			out = append(out, tag)
		}
	}
	sort.Strings(out)
	return out
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestPublishRecords(t *testing.T) {
	requireRegistryTools(t)
	built(t)
	t.Parallel()
	reg := startRegistry(t, true)
	p := newPublisher(t, reg)

	t.Run("attached", func(t *testing.T) {
		repo := reg.host + "/team/app"
		d := sameDigest(t, published(t, p.publish(t, "--tag", "v1.2.0", "--repo", repo).stdout, repo))
		recs := reg.records(t, repo, d)
		if diff := cmp.Diff([]string{spdxType, intotoType}, keys(recs)); diff != "" {
			t.Fatalf("artifact types of the referrers (-want +got):\n%s", diff)
		}
		doc, err := spdxjson.Read(bytes.NewReader(recs[spdxType]))
		if err != nil {
			t.Fatalf("reading the SBOM: %v", err)
		}
		if err := spdxlib.ValidateDocument(doc); err != nil || doc.SPDXVersion != "SPDX-2.3" {
			t.Errorf("SBOM: %s, validation: %v", doc.SPDXVersion, err)
		}
		var st intoto.Statement
		if err := protojson.Unmarshal(recs[intotoType], &st); err != nil {
			t.Fatalf("reading the provenance: %v", err)
		}
		if err := st.Validate(); err != nil {
			t.Errorf("Statement.Validate: %v", err)
		}
		if s := st.GetSubject(); len(s) != 1 || "sha256:"+s[0].GetDigest()["sha256"] != d {
			t.Errorf("the provenance is about %v, want %s", s, d)
		}
		hex := strings.TrimPrefix(d, "sha256:")
		want := []string{"sha256-" + hex} // the referrers fallback; no tag of cosign's
		if diff := cmp.Diff(want, reg.recordTags(t, "team/app")); diff != "" {
			t.Errorf("record tags, as crane lists them (-want +got):\n%s", diff)
		}
	})
	t.Run("turned off", func(t *testing.T) {
		repo := reg.host + "/team/bare"
		res := p.publish(t, "--tag", "v1.2.0", "--repo", repo, "--sbom", "none", "--provenance", "none")
		d := sameDigest(t, published(t, res.stdout, repo))
		if recs := reg.records(t, repo, d); len(recs) != 0 {
			t.Errorf("records attached though turned off: %v", keys(recs))
		}
		if tags := reg.recordTags(t, "team/bare"); len(tags) != 0 {
			t.Errorf("record tags written though records are off: %v", tags)
		}
	})
}
