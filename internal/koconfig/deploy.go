package koconfig

// Deploy holds what builder manifests needs to know of a service beyond its
// image: the "deploy" key of its "builder" settings. Every field is
// optional; internal/deploy documents the defaults.
type Deploy struct {
	// Replicas is the Deployment's replicas and the autoscaler's minimum.
	Replicas int `yaml:"replicas"`
	// Probes are HTTP paths GET on the service's port; a probe without a
	// path runs the image's healthcheck instead, if it has one.
	Probes Probes `yaml:"probes"`
	// MetricsPath is where Prometheus scrapes, e.g. /metrics; none when
	// empty.
	MetricsPath string `yaml:"metricsPath"`
	// ShutdownTimeout is how long the service takes to drain after
	// SIGTERM, a Go duration ("10s").
	ShutdownTimeout string `yaml:"shutdownTimeout"`
	// Resources are Kubernetes quantities: cpu "100m", memory "128Mi".
	Resources Resources `yaml:"resources"`
	// Autoscaling bounds the HorizontalPodAutoscaler.
	Autoscaling Autoscaling `yaml:"autoscaling"`
}

// Probes are the HTTP paths of the Kubernetes probes, on Port (else the
// service's only TCP port).
type Probes struct {
	Liveness  string `yaml:"liveness"`
	Readiness string `yaml:"readiness"`
	Startup   string `yaml:"startup"`
	Port      int    `yaml:"port"`
}

// Resources are the container's requests and limits.
type Resources struct {
	Requests Quantities `yaml:"requests"`
	Limits   Quantities `yaml:"limits"`
}

// Quantities are CPU and memory as Kubernetes writes them.
type Quantities struct {
	CPU    string `yaml:"cpu"`
	Memory string `yaml:"memory"`
}

// Autoscaling is the HorizontalPodAutoscaler's maximum and its target CPU
// utilisation, a percentage of the CPU request.
type Autoscaling struct {
	MaxReplicas    int `yaml:"maxReplicas"`
	CPUUtilization int `yaml:"cpuUtilization"`
}
