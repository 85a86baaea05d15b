package build

import (
	"archive/tar"
	"io"

	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/imagespec"
	"github.com/buildercli/builder/internal/koconfig"
	"github.com/buildercli/builder/internal/moduletest"
	"github.com/buildercli/builder/internal/probe"
)

func TestSettleMergesFlagsOverSettings(t *testing.T) {
	s := &koconfig.Image{
		Ports: []string{"8080"}, Env: []string{"PORT=8080", "MODE=a"}, User: "1000:1000",
		Labels: map[string]string{"team": "core", "tier": "web"}, Annotations: map[string]string{"owner": "x"},
		WorkingDir: "/srv", Args: []string{"serve"}, StopSignal: "SIGINT",
		Healthcheck: &koconfig.Healthcheck{HTTP: "/healthz", Interval: "10s", Retries: 5},
	}
	sv, err := settle("api", s, Request{})
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	if got := sv.healthcheck("/usr/local/bin/api"); !cmp.Equal(got, imagespec.Healthcheck(probe.Argv(8080, "/healthz"),
		imagespec.Timing{Interval: 10 * time.Second, Retries: 5})) {
		t.Errorf("healthcheck = %+v, want the probe on the only port, with the settings' timing", got)
	}
	sv, err = settle("api", s, Request{Ports: []string{"9000", "53/udp"}, Env: []string{"PORT=9000"}, User: "2000",
		Labels: []string{"tier=api"}, Annotations: []string{"owner=y"}, WorkingDir: "/w", Args: []string{"run"},
		StopSignal: "SIGTERM", Healthcheck: "cmd:health --quiet"})
	if err != nil {
		t.Fatalf("settle with flags: %v", err)
	}
	want := service{name: "api", ports: []string{"9000/tcp", "53/udp"}, env: []string{"PORT=9000", "MODE=a"}, user: "2000",
		labels: map[string]string{"team": "core", "tier": "api"}, annotations: map[string]string{"owner": "y"},
		workingDir: "/w", args: []string{"run"}, stopSignal: "SIGTERM",
		health: &koconfig.Healthcheck{Command: []string{"health", "--quiet"}}}
	if diff := cmp.Diff(want, sv, cmp.AllowUnexported(service{})); diff != "" {
		t.Errorf("settled (-want +got):\n%s", diff)
	}
	if got := sv.healthcheck("/usr/local/bin/api").Test; !cmp.Equal(got, []string{"CMD", "/usr/local/bin/api", "health", "--quiet"}) {
		t.Errorf("command healthcheck runs %q", got)
	}
}

func TestSettleDefaultsSayNothing(t *testing.T) {
	sv, err := settle("worker", nil, Request{})
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	if sv.name != "worker" || len(sv.ports) != 0 || len(sv.env) != 0 || sv.health != nil || sv.stopSignal != "" || sv.user != "" || len(sv.args) != 0 {
		t.Errorf("a service without settings gets %+v, want nothing but its name", sv)
	}
	if sv.healthcheck("/usr/local/bin/worker") != nil || sv.needsProbe() {
		t.Error("a service without settings gets a healthcheck")
	}
	sv, err = settle("api", &koconfig.Image{Ports: []string{"8080"}, Healthcheck: &koconfig.Healthcheck{HTTP: "/h"}}, Request{Healthcheck: "none", Ports: []string{"none"}})
	if err != nil || sv.health != nil || len(sv.ports) != 0 {
		t.Errorf("--healthcheck none --port none: %+v, %v; want neither", sv, err)
	}
}

func TestSettleRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *koconfig.Image
		req  Request
		want string
	}{
		{"PORT not exposed", &koconfig.Image{Ports: []string{"8080"}, Env: []string{"PORT=8080"}}, Request{Env: []string{"PORT=9000"}}, "PORT=9000 is not a port the image exposes (8080/tcp)"},
		{"--port against PORT", &koconfig.Image{Ports: []string{"8080"}, Env: []string{"PORT=8080"}}, Request{Ports: []string{"9000"}}, "PORT=8080 is not a port the image exposes (9000/tcp)"},
		{"PORT without ports", nil, Request{Env: []string{"PORT=80"}}, "exposes no port"},
		{"http probe without a port", nil, Request{Healthcheck: "http:/healthz"}, "needs a port"},
		{"http probe on two ports", &koconfig.Image{Ports: []string{"8080", "9090"}}, Request{Healthcheck: "http:/healthz"}, "needs a port"},
		{"http probe on another port", &koconfig.Image{Ports: []string{"8080"}}, Request{Healthcheck: "http:9090/healthz"}, "not a TCP port the image exposes"},
		{"both kinds", &koconfig.Image{Healthcheck: &koconfig.Healthcheck{HTTP: "/h", Command: []string{"x"}}}, Request{}, "not both"},
		{"no kind", &koconfig.Image{Healthcheck: &koconfig.Healthcheck{Interval: "5s"}}, Request{}, "give command"},
		{"bad interval", &koconfig.Image{Ports: []string{"80"}, Healthcheck: &koconfig.Healthcheck{HTTP: "/h", Interval: "5"}}, Request{}, "interval"},
		{"bad path", &koconfig.Image{Ports: []string{"80"}, Healthcheck: &koconfig.Healthcheck{HTTP: "healthz"}}, Request{}, "must be a path"},
		{"bad port setting", &koconfig.Image{Ports: []string{"http"}}, Request{}, "1 to 65535"},
		{"root user setting", &koconfig.Image{User: "0"}, Request{}, "root"},
		{"bad name", &koconfig.Image{Name: "../x"}, Request{}, "not a file name"},
		{"derived label setting", &koconfig.Image{Labels: map[string]string{"org.opencontainers.image.version": "x"}}, Request{}, "cannot be overridden"},
		{"relative working dir", &koconfig.Image{WorkingDir: "srv"}, Request{}, "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := settle("api", tc.s, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("settle = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestImageOfAService builds a service with settings in .ko.yaml and
// checks what its image says: its ports, env, healthcheck through the
// probe (a layer of its own), arguments, and a name from the import path.
func TestImageOfAService(t *testing.T) {
	ko := `builds:
- main: ./hello
  builder:
    ports: ["8080"]
    env: [PORT=8080]
    healthcheck: {http: /healthz}
    args: [--verbose]
    annotations: {team: core}
`
	o := options(moduletest.Hello(t, map[string]string{".ko.yaml": ko}))
	res, _ := buildImage(t, o)
	cf, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !cmp.Equal(c.Entrypoint, []string{"/usr/local/bin/hello"}) || !cmp.Equal(c.Cmd, []string{"--verbose"}) ||
		!cmp.Equal(c.ExposedPorts, map[string]struct{}{"8080/tcp": {}}) || c.StopSignal != "" {
		t.Errorf("config = %+v", c)
	}
	if got := c.Healthcheck.Test; !cmp.Equal(got, []string{"CMD", probe.Path, "http://127.0.0.1:8080/healthz"}) {
		t.Errorf("healthcheck runs %q, want the probe", got)
	}
	m, err := res.Image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Annotations["team"] != "core" {
		t.Errorf("manifest annotations %v lack team=core", m.Annotations)
	}
	if len(cf.History) != 3 || cf.History[2].CreatedBy != "builder: HTTP healthcheck probe" ||
		cf.History[1].CreatedBy != "builder: go build example.com/hello/hello" {
		t.Errorf("history = %+v, want the base, the app by import path, the probe", cf.History)
	}
	ls, err := res.Image.Layers()
	if err != nil || len(ls) != 3 {
		t.Fatalf("layers: %d, %v", len(ls), err)
	}
	files := layerFiles(t, ls[2])
	if len(files) != 1 || files[0] != strings.TrimPrefix(probe.Path, "/") {
		t.Errorf("probe layer holds %v, want only %s", files, probe.Path)
	}
}

// layerFiles lists the regular files of a layer.
func layerFiles(t *testing.T, l v1.Layer) []string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var files []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files = append(files, h.Name)
		}
	}
}
