package imagespec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/imagespec"
)

func TestHealthcheckTiming(t *testing.T) {
	got := imagespec.Healthcheck([]string{"/bin/x", "ok"}, imagespec.Timing{Interval: 10 * time.Second})
	want := &v1.HealthConfig{Test: []string{"CMD", "/bin/x", "ok"}, Interval: 10 * time.Second,
		Timeout: imagespec.HealthTimeout, StartPeriod: imagespec.HealthStartPeriod, Retries: imagespec.HealthRetries}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Healthcheck (-want +got):\n%s", diff)
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]string{
		"8080": "8080/tcp", "8080/tcp": "8080/tcp", "53/udp": "53/udp", "9000/sctp": "9000/sctp", "65535": "65535/tcp",
		"0": "", "65536": "", "-1": "", "+80": "", "080": "", "80/http": "", "http": "", "": "", "80/": "", "8080 ": "",
	} {
		got, err := imagespec.ParsePort(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParsePort(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParsePort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestIndexEntriesHaveNoArtifactType: an index of images names no
// artifactType for them, which the image spec keeps for artifacts and
// skopeo drops (changing the digest).
func TestIndexEntriesHaveNoArtifactType(t *testing.T) {
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	idx, err := imagespec.Index([]imagespec.Platformed{{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Image: img}},
		imagespec.Facts{Title: "app", Created: time.Unix(0, 0)}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := idx.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "artifactType") {
		t.Errorf("index manifest names an artifactType:\n%s", raw)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("validate.Index: %v", err)
	}
}
