// Package deploy generates Kubernetes manifests and a Compose file for a
// built image from its config and the service's deploy settings: pinned by
// digest, non-root with a read-only root filesystem, probes and limits
// included.
package deploy

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/buildercli/builder/internal/koconfig"
)

// The kinds Generate can write.
const (
	Deployment  = "deployment"
	Service     = "service"
	Autoscaler  = "hpa"
	Disruptions = "pdb"
	Compose     = "compose"
)

// Kinds lists every kind, in the order they are written.
var Kinds = []string{Deployment, Service, Autoscaler, Disruptions, Compose}

// Defaults of the deploy settings.
const (
	DefaultReplicas        = 2
	DefaultMaxReplicas     = 5
	DefaultCPUUtilization  = 75
	DefaultShutdownTimeout = 10 * time.Second
	DefaultCPURequest      = "100m"
	DefaultMemoryRequest   = "64Mi"
	DefaultCPULimit        = "1"
	DefaultMemoryLimit     = "128Mi"
	// graceMargin is how much longer than the service's shutdown timeout
	// Kubernetes and Compose wait before they kill it.
	graceMargin = 5 * time.Second
)

// Input is what Generate reads.
type Input struct {
	// Image is the image reference by digest, REPO@sha256:….
	Image string
	// Config is the image's config: user, ports, healthcheck, version.
	Config *v1.ConfigFile
	// Name names every object; a DNS label.
	Name string
	// Env is the service's environment, "KEY=value", as its settings say.
	Env []string
	// Settings are the service's deploy settings; nil takes every default.
	Settings *koconfig.Deploy
	// Kinds are the kinds to write; nil for all of them but a Service
	// when the image exposes no port. A Service asked for without a port
	// is an error.
	Kinds []string
}

// File is one generated file.
type File struct {
	// Name is the file's base name, e.g. deployment.yaml.
	Name string
	// Data is its YAML.
	Data []byte
	// Kube is true for a Kubernetes object, false for compose.yaml.
	Kube bool
}

// spec is Input checked and with its defaults filled in.
type spec struct {
	Input
	uid, gid    int64
	ports       []port
	labels      map[string]string
	grace       time.Duration
	requests    map[string]resource.Quantity
	limits      map[string]resource.Quantity
	replicas    int32
	maxReplicas int32
	cpuTarget   int32
	probePort   int32
	settings    koconfig.Deploy
	kinds       []string
}

// Generate returns the files of the kinds in asks for, in the order of
// Kinds; the same Input gives the same bytes.
func Generate(in Input) ([]File, error) {
	s, err := check(in)
	if err != nil {
		return nil, err
	}
	var files []File
	for _, k := range s.kinds {
		f, err := s.file(k)
		if err != nil {
			return nil, fmt.Errorf("writing the %s of %s: %w", k, in.Name, err)
		}
		files = append(files, f)
	}
	return files, nil
}

func (s *spec) file(kind string) (File, error) {
	if kind == Compose {
		data, err := s.compose()
		return File{Name: "compose.yaml", Data: data}, err
	}
	var obj any
	name := kind + ".yaml"
	switch kind {
	case Deployment:
		obj = s.deployment()
	case Service:
		obj = s.service()
	case Autoscaler:
		obj = s.autoscaler()
	case Disruptions:
		obj = s.disruptionBudget()
	}
	data, err := marshal(obj)
	return File{Name: name, Data: data, Kube: true}, err
}

// check validates in and fills in the defaults.
func check(in Input) (*spec, error) {
	s := &spec{Input: in}
	if in.Settings != nil {
		s.settings = *in.Settings
	}
	if errs := validation.IsDNS1123Label(in.Name); len(errs) > 0 {
		return nil, fmt.Errorf("name %q cannot name Kubernetes objects: %s", in.Name, errs[0])
	}
	var err error
	if s.uid, s.gid, err = user(in.Config.Config.User); err != nil {
		return nil, err
	}
	if s.ports, err = ports(in.Config.Config.ExposedPorts); err != nil {
		return nil, err
	}
	if s.kinds, err = kinds(in.Kinds, len(s.ports) > 0); err != nil {
		return nil, fmt.Errorf("%s: %w", in.Image, err)
	}
	if err := s.resources(); err != nil {
		return nil, err
	}
	if err := s.scaling(); err != nil {
		return nil, err
	}
	if err := s.probes(); err != nil {
		return nil, err
	}
	s.labels = labels(in.Name, in.Config.Config.Labels[versionLabel])
	return s, nil
}

// kinds checks the kinds asked for, or chooses them.
func kinds(asked []string, hasPorts bool) ([]string, error) {
	if asked == nil {
		return slices.DeleteFunc(slices.Clone(Kinds), func(k string) bool { return k == Service && !hasPorts }), nil
	}
	var out []string
	for _, k := range Kinds {
		if slices.Contains(asked, k) {
			out = append(out, k)
		}
	}
	for _, k := range asked {
		if !slices.Contains(Kinds, k) {
			return nil, fmt.Errorf("unknown kind %q: use %s", k, strings.Join(Kinds, ", "))
		}
	}
	if slices.Contains(out, Service) && !hasPorts {
		return nil, fmt.Errorf("a Service was asked for, but the image exposes no port: give the service ports in .ko.yaml (builder.ports) or build with --port")
	}
	return out, nil
}

// resources reads the requests and limits and the shutdown timeout.
func (s *spec) resources() error {
	r := s.settings.Resources
	s.requests = map[string]resource.Quantity{}
	s.limits = map[string]resource.Quantity{}
	for _, q := range []struct {
		into       map[string]resource.Quantity
		key, given string
		def        string
	}{
		{s.requests, "cpu", r.Requests.CPU, DefaultCPURequest},
		{s.requests, "memory", r.Requests.Memory, DefaultMemoryRequest},
		{s.limits, "cpu", r.Limits.CPU, DefaultCPULimit},
		{s.limits, "memory", r.Limits.Memory, DefaultMemoryLimit},
	} {
		v := cmpOr(q.given, q.def)
		parsed, err := resource.ParseQuantity(v)
		if err != nil || parsed.Sign() <= 0 {
			return fmt.Errorf("deploy.resources: %s %q is not a positive Kubernetes quantity (100m, 128Mi)", q.key, v)
		}
		q.into[q.key] = parsed
	}
	for _, k := range []string{"cpu", "memory"} {
		req, lim := s.requests[k], s.limits[k]
		if req.Cmp(lim) > 0 {
			return fmt.Errorf("deploy.resources: the %s request %s is above its limit %s", k, req.String(), lim.String())
		}
	}
	timeout := DefaultShutdownTimeout
	if t := s.settings.ShutdownTimeout; t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 {
			return fmt.Errorf("deploy.shutdownTimeout %q is not a duration such as 10s", t)
		}
		timeout = d
	}
	s.grace = (timeout + graceMargin).Round(time.Second)
	if s.grace <= timeout {
		s.grace += time.Second
	}
	return nil
}

// scaling reads the replicas and the autoscaler's bounds.
func (s *spec) scaling() error {
	a := s.settings.Autoscaling
	s.replicas = int32(cmpOr(s.settings.Replicas, DefaultReplicas))
	s.maxReplicas = int32(cmpOr(a.MaxReplicas, max(DefaultMaxReplicas, int(s.replicas))))
	s.cpuTarget = int32(cmpOr(a.CPUUtilization, DefaultCPUUtilization))
	switch {
	case s.settings.Replicas < 0 || s.settings.Replicas > math.MaxInt16:
		return fmt.Errorf("deploy.replicas %d is not between 1 and %d", s.settings.Replicas, math.MaxInt16)
	case a.MaxReplicas < 0 || s.maxReplicas < s.replicas || a.MaxReplicas > math.MaxInt16:
		return fmt.Errorf("deploy.autoscaling.maxReplicas %d is below replicas %d", s.maxReplicas, s.replicas)
	case a.CPUUtilization < 0 || a.CPUUtilization > 100:
		return fmt.Errorf("deploy.autoscaling.cpuUtilization %d is not a percentage between 1 and 100", a.CPUUtilization)
	}
	return nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
