package build

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/imagespec"
	"github.com/buildercli/builder/internal/koconfig"
	"github.com/buildercli/builder/internal/probe"
)

// service is what the image says of the service: its settings from
// .ko.yaml, with the flags over them.
type service struct {
	name        string
	ports       []string // "8080/tcp"
	env         []string
	user        string
	labels      map[string]string
	annotations map[string]string
	workingDir  string
	args        []string
	stopSignal  string
	health      *koconfig.Healthcheck // nil or None: no healthcheck
	timing      imagespec.Timing
}

// settle merges the service's settings (nil when it has none) with the
// request's flags, and checks the result: bad input fails here, before
// anything is compiled.
func settle(defaultName string, s *koconfig.Image, req Request) (service, error) {
	if s == nil {
		s = &koconfig.Image{}
	}
	where := "builder settings: "
	if err := checkSettings(where, pairs(s.Labels), pairs(s.Annotations), s.Env, s.WorkingDir, s.StopSignal); err != nil {
		return service{}, err
	}
	sv := service{name: defaultName, user: s.User, workingDir: s.WorkingDir, stopSignal: s.StopSignal,
		args: s.Args, health: s.Healthcheck}
	if s.Name != "" {
		if !binaryName.MatchString(s.Name) {
			return service{}, fmt.Errorf("%sname %q is not a file name: use letters, digits, '.', '_' and '-'", where, s.Name)
		}
		sv.name = s.Name
	}
	if err := checkUser(s.User, req.AllowRoot); err != nil {
		return service{}, fmt.Errorf("%s%w", where, err)
	}
	ports := s.Ports
	if len(req.Ports) > 0 {
		ports = req.Ports
	}
	if len(ports) == 1 && ports[0] == "none" {
		ports = nil
	}
	for _, p := range ports {
		norm, err := imagespec.ParsePort(p)
		if err != nil {
			return service{}, fmt.Errorf("%s%w", where, err)
		}
		if !slices.Contains(sv.ports, norm) {
			sv.ports = append(sv.ports, norm)
		}
	}
	sv.env = imagespec.MergeEnv(s.Env, req.Env)
	sv.labels = maps.Clone(s.Labels)
	if sv.labels == nil {
		sv.labels = map[string]string{}
	}
	maps.Copy(sv.labels, koconfig.EnvMap(req.Labels))
	sv.annotations = maps.Clone(s.Annotations)
	if sv.annotations == nil {
		sv.annotations = map[string]string{}
	}
	maps.Copy(sv.annotations, koconfig.EnvMap(req.Annotations))
	if req.User != "" {
		sv.user = req.User
	}
	if req.WorkingDir != "" {
		sv.workingDir = req.WorkingDir
	}
	if req.StopSignal != "" {
		sv.stopSignal = req.StopSignal
	}
	if len(req.Args) > 0 {
		sv.args = req.Args
	}
	if req.Healthcheck != "" {
		h, err := ParseHealthcheck(req.Healthcheck)
		if err != nil {
			return service{}, err
		}
		sv.health = h
	}
	if err := sv.checkHealth(); err != nil {
		return service{}, err
	}
	return sv, sv.checkPortEnv()
}

// binaryName is the form of a binary's file name.
var binaryName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// checkPortEnv refuses a PORT setting that names a port the image does not
// expose, so that the two cannot disagree silently.
func (sv service) checkPortEnv() error {
	v, ok := koconfig.EnvMap(sv.env)["PORT"]
	if !ok {
		return nil
	}
	if len(sv.ports) == 0 {
		return fmt.Errorf("PORT=%s is set, but the image exposes no port: add --port %s (or ports in its settings)", v, v)
	}
	for _, p := range sv.ports {
		if strings.TrimSuffix(p, "/tcp") == v {
			return nil
		}
	}
	return fmt.Errorf("PORT=%s is not a port the image exposes (%s): expose it with --port %s, or set PORT to one of them", v, strings.Join(sv.ports, ", "), v)
}

// checkHealth checks the healthcheck's kind, timings and, for an HTTP
// probe, settles its port: the one given, which the image must expose, or
// the only TCP port it exposes.
func (sv *service) checkHealth() error {
	h := sv.health
	if h == nil || h.None {
		sv.health = nil
		return nil
	}
	var err error
	if sv.timing, err = timing(h); err != nil {
		return err
	}
	switch {
	case len(h.Command) > 0 && h.HTTP != "":
		return fmt.Errorf("healthcheck: give command or http, not both")
	case len(h.Command) > 0:
		return nil
	case h.HTTP == "":
		return fmt.Errorf("healthcheck: give command (arguments to the service's binary), http (a path to GET), or none")
	case !strings.HasPrefix(h.HTTP, "/") || strings.ContainsAny(h.HTTP, " \t\r\n"):
		return fmt.Errorf("healthcheck: http %q must be a path, such as /healthz", h.HTTP)
	}
	var tcp []string
	for _, p := range sv.ports {
		if n, ok := strings.CutSuffix(p, "/tcp"); ok {
			tcp = append(tcp, n)
		}
	}
	hc := *h
	switch {
	case hc.Port == 0 && len(tcp) == 1:
		hc.Port, _ = strconv.Atoi(tcp[0])
	case hc.Port == 0:
		return fmt.Errorf("healthcheck: http needs a port: the image exposes %d TCP ports; name one (http:PORT%s, or port in the settings)", len(tcp), h.HTTP)
	case !slices.Contains(tcp, strconv.Itoa(hc.Port)):
		return fmt.Errorf("healthcheck: port %d is not a TCP port the image exposes (%s)", hc.Port, strings.Join(sv.ports, ", "))
	}
	sv.health = &hc
	return nil
}

func timing(h *koconfig.Healthcheck) (imagespec.Timing, error) {
	var t imagespec.Timing
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"interval", h.Interval, &t.Interval}, {"timeout", h.Timeout, &t.Timeout}, {"startPeriod", h.StartPeriod, &t.StartPeriod}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil || v < time.Second {
			return t, fmt.Errorf("healthcheck: %s %q must be a duration of at least 1s, e.g. 30s", d.name, d.in)
		}
		*d.out = v
	}
	if h.Retries < 0 {
		return t, fmt.Errorf("healthcheck: retries must be positive")
	}
	t.Retries = h.Retries
	return t, nil
}

// healthcheck returns the image's healthcheck, run by the binary at
// entrypoint; nil for none.
func (sv service) healthcheck(entrypoint string) *v1.HealthConfig {
	switch h := sv.health; {
	case h == nil:
		return nil
	case len(h.Command) > 0:
		return imagespec.Healthcheck(append([]string{entrypoint}, h.Command...), sv.timing)
	default:
		return imagespec.Healthcheck(probe.Argv(h.Port, h.HTTP), sv.timing)
	}
}

// needsProbe reports whether the image needs builder's HTTP probe.
func (sv service) needsProbe() bool { return sv.health != nil && len(sv.health.Command) == 0 }

// ParseHealthcheck reads --healthcheck: "none", "cmd:ARG …" or
// "http:[PORT]/PATH".
func ParseHealthcheck(s string) (*koconfig.Healthcheck, error) {
	switch {
	case s == "none":
		return &koconfig.Healthcheck{None: true}, nil
	case strings.HasPrefix(s, "cmd:"):
		args := strings.Fields(strings.TrimPrefix(s, "cmd:"))
		if len(args) == 0 {
			return nil, fmt.Errorf("--healthcheck %q: give the arguments to run the service's binary with, e.g. cmd:healthcheck", s)
		}
		return &koconfig.Healthcheck{Command: args}, nil
	case strings.HasPrefix(s, "http:"):
		rest := strings.TrimPrefix(s, "http:")
		portStr, p, _ := strings.Cut(rest, "/")
		h := &koconfig.Healthcheck{HTTP: "/" + p}
		if portStr != "" {
			n, err := strconv.Atoi(portStr)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("--healthcheck %q: the port must be 1 to 65535, e.g. http:8080/healthz", s)
			}
			h.Port = n
		}
		return h, nil
	}
	return nil, fmt.Errorf("--healthcheck %q: use none, cmd:ARGS (the service's own mode, e.g. cmd:healthcheck) or http:[PORT]/PATH (builder's probe, e.g. http:8080/healthz)", s)
}

// checkSettings checks key=value pairs, the working directory and the stop
// signal; prefix names where they come from in errors.
func checkSettings(prefix string, labels, annotations, env []string, workingDir, stopSignal string) error {
	for _, set := range []struct {
		what  string
		pairs []string
	}{{"label", labels}, {"annotation", annotations}, {"env", env}} {
		for _, kv := range set.pairs {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || k == "" || strings.ContainsAny(k, " \t\r\n=") || strings.ContainsAny(kv, "\x00\r\n") {
				return fmt.Errorf("%s%s %q is not of the form key=value (no spaces or line breaks in the key)", prefix, set.what, kv)
			}
			if set.what != "env" {
				if err := imagespec.CheckUserLabel(k); err != nil {
					return err
				}
			}
		}
	}
	if workingDir != "" && !path.IsAbs(workingDir) {
		return fmt.Errorf("%sworking directory %q must be an absolute path", prefix, workingDir)
	}
	if stopSignal != "" && !signal.MatchString(stopSignal) {
		return fmt.Errorf("%sstop signal %q is not a signal name such as SIGTERM, or a number", prefix, stopSignal)
	}
	return nil
}

var signal = regexp.MustCompile(`^(SIG[A-Z0-9+-]+|[1-9][0-9]?)$`)

// pairs turns a map into sorted "key=value" pairs.
func pairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
