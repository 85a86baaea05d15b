package imagespec_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/imagespec"
	"github.com/buildercli/builder/internal/layers"
)

func TestMergeEnv(t *testing.T) {
	for _, tc := range []struct {
		name       string
		base, over []string
		want       []string
	}{
		{"both empty", nil, nil, nil},
		{"base only", []string{"A=1", "B=2"}, nil, []string{"A=1", "B=2"}},
		{"over only", nil, []string{"A=1", "B=2"}, []string{"A=1", "B=2"}},
		{"replace in place", []string{"A=1", "B=2", "C=3"}, []string{"B=x"}, []string{"A=1", "B=x", "C=3"}},
		{"append new keys in order", []string{"A=1"}, []string{"Z=26", "M=13"}, []string{"A=1", "Z=26", "M=13"}},
		{"replace and append", []string{"PATH=/bin", "HOME=/"}, []string{"PORT=8080", "HOME=/home/app"},
			[]string{"PATH=/bin", "HOME=/home/app", "PORT=8080"}},
		{"value with equals", []string{"A=1"}, []string{"A=x=y"}, []string{"A=x=y"}},
		{"empty value", []string{"A=1"}, []string{"A="}, []string{"A="}},
		{"key is not a prefix match", []string{"AB=1"}, []string{"A=2"}, []string{"AB=1", "A=2"}},
		{"later over entry wins", []string{"A=1"}, []string{"A=2", "A=3"}, []string{"A=3"}},
		{"new key repeated in over", nil, []string{"A=2", "A=3"}, []string{"A=3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := append([]string(nil), tc.base...)
			got := imagespec.MergeEnv(base, tc.over)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("MergeEnv(%q, %q) (-want +got):\n%s", tc.base, tc.over, diff)
			}
			if diff := cmp.Diff(tc.base, base); diff != "" {
				t.Errorf("MergeEnv changed its base argument (-want +got):\n%s", diff)
			}
		})
	}
}

// baseConfig is the config of ociBase.
var baseConfig = v1.Config{
	Entrypoint: []string{"/old"},
	Cmd:        []string{"serve"},
	User:       "65532:65532",
	WorkingDir: "/home/nonroot",
	Env:        []string{"PATH=/bin", "HOME=/home/nonroot"},
	Labels:     map[string]string{"base.label": "kept"},
	// What describes the base's own program goes.
	ExposedPorts: map[string]struct{}{"80/tcp": {}},
	Healthcheck:  &v1.HealthConfig{Test: []string{"CMD", "/old", "check"}},
	StopSignal:   "SIGQUIT",
}

// ociBase returns a one-layer image with OCI media types throughout.
func ociBase(t *testing.T) v1.Image {
	t.Helper()
	l := newLayer(t, []layers.Entry{{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/:/sbin/nologin\n")}})
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{Layer: l, MediaType: types.OCILayer})
	if err != nil {
		t.Fatalf("appending the base layer: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("reading the base config: %v", err)
	}
	cf = cf.DeepCopy()
	cf.Config = *baseConfig.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("setting the base config: %v", err)
	}
	return img
}

// binLayer returns a small application layer.
func binLayer(t *testing.T) v1.Layer {
	t.Helper()
	e, err := layers.BinaryEntry(writeFile(t, []byte("app binary")), "/usr/local/bin/app")
	if err != nil {
		t.Fatalf("BinaryEntry: %v", err)
	}
	return newLayer(t, []layers.Entry{e})
}

var created = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

var fullSpec = imagespec.Spec{
	Entrypoint: "/usr/local/bin/app",
	User:       "1000:1000",
	Env:        []string{"HOME=/home/app", "PORT=8080"},
	Ports:      []string{"8080/tcp", "9090/udp"},
	Labels: map[string]string{
		"org.opencontainers.image.source":  "https://github.com/org/app",
		"org.opencontainers.image.version": "v1.2.3",
		"com.example.team":                 "payments",
		"org.opencontainers.imagefoo":      "not an OCI key",
	},
	Annotations: map[string]string{"com.example.owner": "payments"},
	Args:        []string{"--log-json"},
	WorkingDir:  "/srv",
	StopSignal:  "SIGINT",
	Created:     created.In(time.FixedZone("CEST", 2*3600)),
	Platform:    v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"},
	Healthcheck: imagespec.Healthcheck([]string{"/usr/local/bin/app", "healthcheck"}, imagespec.Timing{Retries: 5}),
	Format:      imagespec.FormatOCI,
}

const history = "go build example.com/app"

func appendImage(t *testing.T, base v1.Image, bin v1.Layer, spec imagespec.Spec) v1.Image {
	t.Helper()
	img, err := imagespec.Append(base, []imagespec.Layer{{Layer: bin, History: history}}, spec)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	return img
}

func TestAppend(t *testing.T) {
	base := ociBase(t)
	bin := binLayer(t)
	img := appendImage(t, base, bin, fullSpec)

	m, err := img.Manifest()
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	gotTypes := []types.MediaType{m.MediaType, m.Config.MediaType}
	for _, l := range m.Layers {
		gotTypes = append(gotTypes, l.MediaType)
	}
	wantTypes := []types.MediaType{types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer, types.OCILayer}
	if diff := cmp.Diff(wantTypes, gotTypes); diff != "" {
		t.Errorf("media types of manifest, config, layers (-want +got):\n%s", diff)
	}
	if mt, err := img.MediaType(); err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("MediaType() = %s, %v; want %s", mt, err, types.OCIManifestSchema1)
	}
	if got, want := m.Layers[len(m.Layers)-1].Digest, digest(t, bin); got != want {
		t.Errorf("top layer digest = %s, want the binary layer's %s", got, want)
	}

	wantAnn := map[string]string{
		"org.opencontainers.image.source":  "https://github.com/org/app",
		"org.opencontainers.image.version": "v1.2.3",
		"com.example.owner":                "payments",
	}
	if diff := cmp.Diff(wantAnn, m.Annotations); diff != "" {
		t.Errorf("manifest annotations (-want +got):\n%s", diff)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("ConfigFile: %v", err)
	}
	want := *baseConfig.DeepCopy()
	want.Entrypoint = []string{"/usr/local/bin/app"}
	want.Cmd = []string{"--log-json"}
	want.WorkingDir = "/srv"
	want.User = "1000:1000"
	want.Env = []string{"PATH=/bin", "HOME=/home/app", "PORT=8080"}
	want.ExposedPorts = map[string]struct{}{"8080/tcp": {}, "9090/udp": {}}
	want.Labels = map[string]string{
		"base.label":                       "kept",
		"org.opencontainers.image.source":  "https://github.com/org/app",
		"org.opencontainers.image.version": "v1.2.3",
		"com.example.team":                 "payments",
		"org.opencontainers.imagefoo":      "not an OCI key",
	}
	want.StopSignal = "SIGINT"
	want.Healthcheck = &v1.HealthConfig{
		Test:        []string{"CMD", "/usr/local/bin/app", "healthcheck"},
		Interval:    30 * time.Second,
		Timeout:     3 * time.Second,
		StartPeriod: 5 * time.Second,
		Retries:     5,
	}
	if diff := cmp.Diff(want, cf.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	gotPlatform := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if diff := cmp.Diff(fullSpec.Platform, gotPlatform); diff != "" {
		t.Errorf("config platform (-want +got):\n%s", diff)
	}
	if !cf.Created.Equal(created) || cf.Created.Location() != time.UTC {
		t.Errorf("config created = %v, want %v in UTC", cf.Created.Time, created)
	}
	if len(cf.History) == 0 {
		t.Fatalf("config has no history")
	}
	h := cf.History[len(cf.History)-1]
	if h.CreatedBy != history || !h.Created.Equal(created) || h.EmptyLayer {
		t.Errorf("last history = %+v, want created_by %q at %v for a layer", h, history, created)
	}
	if got, want := len(cf.RootFS.DiffIDs), 2; got != want {
		t.Errorf("config has %d diff IDs, want %d", got, want)
	}
}

// A spec without a user, ports, labels or health check keeps the base's
// user, environment, working directory and labels, adds no manifest
// annotations, and drops what describes the base's own program: its
// command, ports, healthcheck and stop signal.
func TestAppendMinimalSpec(t *testing.T) {
	img := appendImage(t, ociBase(t), binLayer(t), imagespec.Spec{
		Entrypoint: "/usr/local/bin/app",
		Created:    created,
		Platform:   v1.Platform{OS: "linux", Architecture: "amd64"},
	})
	m, err := img.Manifest()
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	if len(m.Annotations) != 0 {
		t.Errorf("manifest annotations = %v, want none", m.Annotations)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("ConfigFile: %v", err)
	}
	want := *baseConfig.DeepCopy()
	want.Entrypoint = []string{"/usr/local/bin/app"}
	want.Cmd = nil
	want.ExposedPorts = nil
	want.Healthcheck = nil
	want.StopSignal = ""
	if diff := cmp.Diff(want, cf.Config, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestAppendRejectsNonOCIBase(t *testing.T) {
	rnd, err := random.Image(64, 1)
	if err != nil {
		t.Fatalf("random.Image: %v", err)
	}
	for _, tc := range []struct {
		name string
		base v1.Image
	}{
		{"random image", rnd},
		{"docker empty image", empty.Image},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if img, err := imagespec.Append(tc.base, []imagespec.Layer{{Layer: binLayer(t)}}, fullSpec); err == nil {
				t.Errorf("Append onto a %s = %v, want an error", tc.name, img)
			}
		})
	}
}

func TestAppendDeterministic(t *testing.T) {
	imgDigest := func(t *testing.T, spec imagespec.Spec) v1.Hash {
		t.Helper()
		img := appendImage(t, ociBase(t), binLayer(t), spec)
		d, err := img.Digest()
		if err != nil {
			t.Fatalf("Digest: %v", err)
		}
		return d
	}
	first := imgDigest(t, fullSpec)
	if diff := cmp.Diff(first, imgDigest(t, fullSpec)); diff != "" {
		t.Errorf("second Append digest (-want +got):\n%s", diff)
	}
	later := fullSpec
	later.Created = created.Add(time.Second)
	if got := imgDigest(t, later); got == first {
		t.Errorf("a different creation time kept the digest %s", got)
	}
}

// newLayer calls NewLayer and fails the test on error.
func newLayer(t *testing.T, entries []layers.Entry) v1.Layer {
	t.Helper()
	l, err := layers.NewLayer(entries)
	if err != nil {
		t.Fatalf("NewLayer: %v", err)
	}
	return l
}

// writeFile writes data to a new file and returns its path.
func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
	return p
}

func digest(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return d
}

// TestAppendDockerFormat: asked for, an image is written with Docker's
// media types (podman keeps a HEALTHCHECK only from those), with the same
// layers and the same config content; by default, OCI's.
func TestAppendDockerFormat(t *testing.T) {
	spec := fullSpec
	spec.Format, spec.Annotations = imagespec.FormatDocker, nil
	img := appendImage(t, ociBase(t), binLayer(t), spec)
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	got := []types.MediaType{m.MediaType, m.Config.MediaType}
	for _, l := range m.Layers {
		got = append(got, l.MediaType)
	}
	want := []types.MediaType{types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer, types.DockerLayer}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("media types (-want +got):\n%s", diff)
	}
	ociSpec := fullSpec
	ociSpec.Annotations = nil
	oci := appendImage(t, ociBase(t), binLayer(t), ociSpec)
	om, err := oci.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Layers {
		if m.Layers[i].Digest != om.Layers[i].Digest {
			t.Errorf("layer %d: %s in Docker's format, %s in OCI's", i, m.Layers[i].Digest, om.Layers[i].Digest)
		}
	}
	dc, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	oc, err := oci.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(oc, dc); diff != "" {
		t.Errorf("config (-oci +docker):\n%s", diff)
	}
	spec.Format = ""
	if mt, err := appendImage(t, ociBase(t), binLayer(t), spec).MediaType(); err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("by default: %s, %v; want OCI", mt, err)
	}
}
