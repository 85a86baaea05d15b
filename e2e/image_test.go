package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Size budgets of the image, in bytes.
const (
	maxCompressed   = 8_000_000  // compressed layers plus the config
	maxUncompressed = 20_000_000 // uncompressed layers
)

// Label keys the image carries.
const (
	labelTitle      = "org.opencontainers.image.title"
	labelVersion    = "org.opencontainers.image.version"
	labelCreated    = "org.opencontainers.image.created"
	labelBaseName   = "org.opencontainers.image.base.name"
	labelBaseDigest = "org.opencontainers.image.base.digest"
)

// configView is the part of an image config the tests compare.
type configView struct {
	OS, Architecture string
	User             string
	Entrypoint       []string
	Cmd              []string
	WorkingDir       string
	Env              map[string]string // the keys wantEnv names
	ExposedPorts     []string
	StopSignal       string
	Labels           map[string]string // title and version only
}

var wantEnv = map[string]string{
	"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
	"PORT":          "8080",
	"GIN_MODE":      "release",
}

func TestImageConfig(t *testing.T) {
	b := built(t)
	t.Parallel()
	cfg := skopeoConfig(t, b.tarball)
	c := cfg.Config
	env := envMap(c.Env)
	got := configView{
		OS: cfg.OS, Architecture: cfg.Architecture, User: c.User, Entrypoint: c.Entrypoint,
		Cmd: c.Cmd, WorkingDir: c.WorkingDir, Env: map[string]string{}, StopSignal: c.StopSignal,
		Labels: map[string]string{labelTitle: c.Labels[labelTitle], labelVersion: c.Labels[labelVersion]},
	}
	for k := range wantEnv {
		got.Env[k] = env[k]
	}
	for p := range c.ExposedPorts {
		got.ExposedPorts = append(got.ExposedPorts, p)
	}
	want := configView{
		OS: "linux", Architecture: runtime.GOARCH, User: "65532:65532", Entrypoint: []string{entrypoint},
		WorkingDir: "/home/nonroot", Env: wantEnv, ExposedPorts: []string{"8080/tcp"}, StopSignal: "SIGTERM",
		Labels: map[string]string{labelTitle: "app", labelVersion: tag},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("skopeo inspect --config: image config mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(":"+env["PATH"]+":", ":/usr/local/bin:") {
		t.Errorf("PATH=%q does not hold /usr/local/bin, where the entrypoint is", env["PATH"])
	}
	if c.Labels[labelBaseName] == "" {
		t.Errorf("label %s is missing; labels: %v", labelBaseName, c.Labels)
	}
	if d := c.Labels[labelBaseDigest]; !digestPattern.MatchString(d) {
		t.Errorf("label %s = %q, want a sha256 digest", labelBaseDigest, d)
	}
	if _, err := time.Parse(time.RFC3339, c.Labels[labelCreated]); err != nil {
		t.Errorf("label %s: %v", labelCreated, err)
	}
}

// TestRawConfig reads the config with tar, because skopeo's parsed OCI view
// drops the Docker-only Healthcheck.
func TestRawConfig(t *testing.T) {
	b := built(t)
	t.Parallel()
	var manifest []struct {
		Config   string
		RepoTags []string
	}
	out := mustRun(t, "tar", "-xOf", b.tarball, "manifest.json")
	if err := json.Unmarshal([]byte(out), &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: want one image, got %d (%v):\n%s", len(manifest), err, out)
	}
	if diff := cmp.Diff([]string{"app:" + tag}, manifest[0].RepoTags); diff != "" {
		t.Errorf("manifest.json RepoTags mismatch (-want +got):\n%s", diff)
	}
	raw := mustRun(t, "tar", "-xOf", b.tarball, manifest[0].Config)
	sum := sha256.Sum256([]byte(raw))
	name := path.Base(manifest[0].Config) // blobs/sha256/HEX
	if got := hex.EncodeToString(sum[:]); got != name {
		t.Errorf("config %s has digest sha256:%s: the archive is not content-addressed", manifest[0].Config, got)
	}
	var cfg struct {
		Config struct {
			Healthcheck *struct {
				Test                           []string
				Interval, Timeout, StartPeriod time.Duration
				Retries                        int
			}
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("decoding the config: %v\n%s", err, raw)
	}
	hc := cfg.Config.Healthcheck
	if hc == nil {
		t.Fatalf("the config has no Healthcheck:\n%s", raw)
	}
	if diff := cmp.Diff([]string{"CMD", entrypoint, "healthcheck"}, hc.Test); diff != "" {
		t.Errorf("Healthcheck.Test mismatch (-want +got):\n%s", diff)
	}
	if hc.Interval <= 0 || hc.Timeout <= 0 || hc.Retries <= 0 {
		t.Errorf("Healthcheck = %+v, want a positive interval, timeout and retries", *hc)
	}
}

func TestCraneValidate(t *testing.T) {
	b := built(t)
	t.Parallel()
	out := mustRun(t, cranePath(t), "validate", "--tarball", b.tarball)
	if !strings.Contains(out, "PASS") {
		t.Errorf("crane validate --tarball did not say PASS:\n%s", out)
	}
}

func TestImageSize(t *testing.T) {
	b := built(t)
	t.Parallel()
	a := readArchive(t, b.tarball)
	compressed := int64(len(a.config))
	var uncompressed int64
	var sizes []int64
	for _, l := range a.layers {
		compressed += int64(len(l.data))
		size := readLayer(t, l).size
		uncompressed += size
		sizes = append(sizes, size)
	}
	t.Logf("compressed layers + config: %d bytes; uncompressed layers: %d bytes (%d layers)", compressed, uncompressed, len(a.layers))
	if compressed > maxCompressed {
		t.Errorf("compressed layers + config = %d bytes, over the budget of %d", compressed, maxCompressed)
	}
	if uncompressed > maxUncompressed {
		t.Errorf("uncompressed layers = %d bytes, over the budget of %d", uncompressed, maxUncompressed)
	}
	// skopeo describes a docker-archive's layers by their uncompressed form.
	var raw struct{ Layers []struct{ Size int64 } }
	out := mustRun(t, "skopeo", "inspect", "--raw", "docker-archive:"+b.tarball)
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("decoding skopeo inspect --raw: %v\n%s", err, out)
	}
	var skopeoSizes []int64
	for _, l := range raw.Layers {
		skopeoSizes = append(skopeoSizes, l.Size)
	}
	if diff := cmp.Diff(sizes, skopeoSizes); diff != "" {
		t.Errorf("uncompressed layer sizes: gunzip vs skopeo (-want +got):\n%s", diff)
	}
}

// imageConfig is an OCI image config, as far as the tests read it.
type imageConfig struct {
	OS, Architecture string
	Config           struct {
		User         string
		Entrypoint   []string
		Cmd          []string
		WorkingDir   string
		Env          []string
		ExposedPorts map[string]struct{}
		StopSignal   string
		Labels       map[string]string
	}
}

// skopeoConfig returns the config of the image in the docker-archive file,
// as skopeo reads it.
func skopeoConfig(t *testing.T, file string) imageConfig {
	t.Helper()
	var cfg imageConfig
	out := mustRun(t, "skopeo", "inspect", "--config", "docker-archive:"+file)
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("decoding skopeo inspect --config: %v\n%s", err, out)
	}
	return cfg
}

// envMap turns KEY=value pairs into a map.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
