package deploy_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/deploy"
	"github.com/buildercli/builder/internal/koconfig"
)

const image = "registry.example/acme/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// appConfig is the config of an image of app/: one port, its own
// healthcheck mode, the built-in base's user.
func appConfig() *v1.ConfigFile {
	return &v1.ConfigFile{
		OS: "linux", Architecture: "amd64",
		Config: v1.Config{
			User:         "65532:65532",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}},
			Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "PORT=8080", "GIN_MODE=release"},
			Healthcheck: &v1.HealthConfig{
				Test:     []string{"CMD", "/usr/local/bin/app", "healthcheck"},
				Interval: 10 * time.Second, Timeout: 2 * time.Second, StartPeriod: 5 * time.Second, Retries: 3,
			},
			Labels: map[string]string{"org.opencontainers.image.version": "v1.2.0"},
		},
	}
}

// appInput is app/ with the deploy settings its guide asks for.
func appInput() deploy.Input {
	return deploy.Input{
		Image:  image,
		Config: appConfig(),
		Name:   "app",
		Env:    []string{"PORT=8080", "GIN_MODE=release"},
		Settings: &koconfig.Deploy{
			Probes:          koconfig.Probes{Liveness: "/healthz", Readiness: "/readyz", Startup: "/healthz"},
			MetricsPath:     "/metrics",
			ShutdownTimeout: "10s",
			Resources:       koconfig.Resources{Limits: koconfig.Quantities{Memory: "256Mi"}},
		},
	}
}

func generate(t *testing.T, in deploy.Input) map[string][]byte {
	t.Helper()
	files, err := deploy.Generate(in)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		out[f.Name] = f.Data
	}
	return out
}

func TestGenerateKinds(t *testing.T) {
	noPorts := appInput()
	noPorts.Config.Config.ExposedPorts = nil
	noPorts.Settings = nil
	for _, tc := range []struct {
		name string
		in   deploy.Input
		want []string
	}{
		{"all", appInput(), []string{"deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml", "compose.yaml"}},
		{"no ports, no Service", noPorts, []string{"deployment.yaml", "hpa.yaml", "pdb.yaml", "compose.yaml"}},
		{"asked, in Kinds' order", func() deploy.Input {
			in := appInput()
			in.Kinds = []string{deploy.Compose, deploy.Deployment}
			return in
		}(), []string{"deployment.yaml", "compose.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := deploy.Generate(tc.in)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			var got []string
			for _, f := range files {
				got = append(got, f.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGenerateErrors checks that bad input fails on one line that names
// the problem, a Service asked for without a port among them.
func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*deploy.Input)
		want   string
	}{
		{"service without ports", func(in *deploy.Input) {
			in.Config.Config.ExposedPorts = nil
			in.Settings = nil
			in.Kinds = []string{deploy.Deployment, deploy.Service}
		}, "a Service was asked for, but the image exposes no port"},
		{"unknown kind", func(in *deploy.Input) { in.Kinds = []string{"ingress"} }, `unknown kind "ingress"`},
		{"root", func(in *deploy.Input) { in.Config.Config.User = "0:0" }, "runs as root"},
		{"no user", func(in *deploy.Input) { in.Config.Config.User = "" }, "names no user"},
		{"user by name", func(in *deploy.Input) { in.Config.Config.User = "nonroot" }, "not a numeric uid[:gid]"},
		{"group by name", func(in *deploy.Input) { in.Config.Config.User = "65532:nonroot" }, "not a numeric uid[:gid]"},
		{"bare root", func(in *deploy.Input) { in.Config.Config.User = "0" }, "runs as root"},
		{"bad name", func(in *deploy.Input) { in.Name = "My_App" }, "cannot name Kubernetes objects"},
		{"bad quantity", func(in *deploy.Input) { in.Settings.Resources.Limits.CPU = "lots" }, `cpu "lots" is not a positive`},
		{"request above limit", func(in *deploy.Input) { in.Settings.Resources.Requests.Memory = "1Gi" }, "memory request 1Gi is above its limit 256Mi"},
		{"bad shutdown", func(in *deploy.Input) { in.Settings.ShutdownTimeout = "10" }, "deploy.shutdownTimeout"},
		{"relative path", func(in *deploy.Input) { in.Settings.Probes.Readiness = "readyz" }, `deploy.probes.readiness "readyz"`},
		{"two TCP ports", func(in *deploy.Input) { in.Config.Config.ExposedPorts["9090/tcp"] = struct{}{} }, "set deploy.probes.port"},
		{"probe port not exposed", func(in *deploy.Input) { in.Settings.Probes.Port = 9090 }, "deploy.probes.port 9090"},
		{"utilisation", func(in *deploy.Input) { in.Settings.Autoscaling.CPUUtilization = 150 }, "cpuUtilization 150"},
		{"max below replicas", func(in *deploy.Input) {
			in.Settings.Replicas, in.Settings.Autoscaling.MaxReplicas = 4, 3
		}, "maxReplicas 3 is below replicas 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := appInput()
			tc.change(&in)
			files, err := deploy.Generate(in)
			if err == nil {
				t.Fatalf("Generate = %d files, want an error", len(files))
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Generate: %q, want one line with %q", err, tc.want)
			}
		})
	}
}

// TestGenerateDeterministic generates twice (ports come from a map) and
// expects the same bytes, on stdout and in a directory.
func TestGenerateDeterministic(t *testing.T) {
	in := appInput()
	in.Config.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}, "9090/tcp": {}, "53/udp": {}, "7000/tcp": {}}
	in.Settings.Probes.Port = 8080
	var first []byte
	for i := range 5 {
		files, err := deploy.Generate(in)
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		var buf bytes.Buffer
		if err := deploy.Stream(&buf, files); err != nil {
			t.Fatalf("Stream: %v", err)
		}
		if i == 0 {
			first = buf.Bytes()
			continue
		}
		if diff := cmp.Diff(string(first), buf.String()); diff != "" {
			t.Fatalf("run %d (-want +got):\n%s", i, diff)
		}
	}
}
