package koconfig_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/buildercli/builder/internal/koconfig"
)

func TestParseDeploy(t *testing.T) {
	const data = `builds:
- id: api
  main: ./cmd/api
  builder:
    ports: ["8080"]
    deploy:
      replicas: 3
      probes: {liveness: /healthz, readiness: /readyz, startup: /healthz, port: 8080}
      metricsPath: /metrics
      shutdownTimeout: 20s
      resources:
        requests: {cpu: 50m, memory: 32Mi}
        limits: {cpu: "2", memory: 1Gi}
      autoscaling: {maxReplicas: 9, cpuUtilization: 60}
`
	cfg := parse(t, data, ".")
	want := &koconfig.Deploy{
		Replicas:        3,
		Probes:          koconfig.Probes{Liveness: "/healthz", Readiness: "/readyz", Startup: "/healthz", Port: 8080},
		MetricsPath:     "/metrics",
		ShutdownTimeout: "20s",
		Resources: koconfig.Resources{
			Requests: koconfig.Quantities{CPU: "50m", Memory: "32Mi"},
			Limits:   koconfig.Quantities{CPU: "2", Memory: "1Gi"},
		},
		Autoscaling: koconfig.Autoscaling{MaxReplicas: 9, CPUUtilization: 60},
	}
	if diff := cmp.Diff(want, cfg.Builds[0].Image.Deploy); diff != "" {
		t.Errorf("deploy settings (-want +got):\n%s", diff)
	}
}

// TestParseDeployUnknownKey checks that a mistyped key under deploy, at any
// depth, is an error that names it.
func TestParseDeployUnknownKey(t *testing.T) {
	for _, tc := range []struct{ name, deploy, key string }{
		{"top", "{replica: 2}", "replica"},
		{"probes", "{probes: {live: /healthz}}", "live"},
		{"resources", "{resources: {limits: {mem: 1Gi}}}", "mem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "builds:\n- main: ./cmd/api\n  builder:\n    deploy: " + tc.deploy + "\n"
			_, err := koconfig.Parse([]byte(data), ".")
			if err == nil || !strings.Contains(err.Error(), `"`+tc.key+`"`) {
				t.Errorf("Parse: %v, want an error naming %q", err, tc.key)
			}
		})
	}
}
