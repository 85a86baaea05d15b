package deploy

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Probe timings when the image's healthcheck gives none.
const (
	defaultPeriod   = 10 * time.Second
	defaultTimeout  = 3 * time.Second
	defaultFailures = 3
	// The startup probe checks every startupPeriod for startupWindow (or
	// the healthcheck's start period, if longer).
	startupPeriod = 2 * time.Second
	startupWindow = 60 * time.Second
)

// probes checks the probe and metrics paths and finds their port: the
// settings' probes.port, else the image's only TCP port.
func (s *spec) probes() error {
	p := s.settings.Probes
	paths := map[string]string{"probes.liveness": p.Liveness, "probes.readiness": p.Readiness,
		"probes.startup": p.Startup, "metricsPath": s.settings.MetricsPath}
	needPort := false
	for key, path := range paths {
		if path != "" && !strings.HasPrefix(path, "/") {
			return fmt.Errorf("deploy.%s %q is not a path starting with /", key, path)
		}
		needPort = needPort || path != ""
	}
	if !needPort {
		return nil
	}
	if p.Port != 0 {
		for _, pt := range s.ports {
			if pt.proto == "TCP" && int(pt.number) == p.Port {
				s.probePort = pt.number
				return nil
			}
		}
		return fmt.Errorf("deploy.probes.port %d is not a TCP port the image exposes", p.Port)
	}
	var tcp []port
	for _, pt := range s.ports {
		if pt.proto == "TCP" {
			tcp = append(tcp, pt)
		}
	}
	if len(tcp) != 1 {
		return fmt.Errorf("the deploy settings name HTTP paths, but the image exposes %d TCP ports: set deploy.probes.port", len(tcp))
	}
	s.probePort = tcp[0].number
	return nil
}

// liveness is the liveness probe: the image's own healthcheck when it has
// one — it checks the service's health as the settings' path does, and it
// runs on a shell-less image everywhere, where podman kube play turns an
// HTTP GET into a curl the image lacks — else a GET of the settings' path.
// The startup probe does the same (see probe); readiness always GETs its
// own path.
func (s *spec) liveness() *corev1.Probe {
	if s.ownHealthcheck() {
		return s.probe("", false)
	}
	return s.probe(s.settings.Probes.Liveness, false)
}

// ownHealthcheck says whether the image has a healthcheck a probe can run
// (its exec form).
func (s *spec) ownHealthcheck() bool {
	hc := s.Config.Config.Healthcheck
	return hc != nil && len(hc.Test) > 1 && hc.Test[0] == "CMD"
}

// probe is the probe of path, an HTTP GET on the probe port, else the
// image's healthcheck, else nil. A startup probe runs the image's
// healthcheck whenever the image has one, as the liveness probe does.
func (s *spec) probe(path string, startup bool) *corev1.Probe {
	var h corev1.ProbeHandler
	hc := s.Config.Config.Healthcheck
	switch {
	case (path == "" || startup) && s.ownHealthcheck():
		h.Exec = &corev1.ExecAction{Command: hc.Test[1:]}
	case path != "":
		h.HTTPGet = &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(s.probePort)}
	default:
		return nil
	}
	period, timeout, failures := defaultPeriod, defaultTimeout, defaultFailures
	if hc != nil {
		period, timeout, failures = or(hc.Interval, period), or(hc.Timeout, timeout), cmpOr(hc.Retries, failures)
	}
	if startup {
		window := startupWindow
		if hc != nil {
			window = max(window, hc.StartPeriod)
		}
		period, failures = startupPeriod, int((window+startupPeriod-1)/startupPeriod)
	}
	return &corev1.Probe{
		ProbeHandler:     h,
		PeriodSeconds:    seconds(period),
		TimeoutSeconds:   seconds(timeout),
		FailureThreshold: int32(failures),
		SuccessThreshold: 1,
	}
}

func or(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// seconds is d in whole seconds, rounded up, at least 1.
func seconds(d time.Duration) int32 {
	return int32(max(1, (d+time.Second-1)/time.Second))
}
