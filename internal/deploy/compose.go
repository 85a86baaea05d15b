package deploy

import (
	"fmt"
	"strconv"
	"time"

	"sigs.k8s.io/yaml"
)

// composeFile is the part of the Compose specification builder writes.
type composeFile struct {
	Services map[string]composeService `json:"services"`
}

type composeService struct {
	Image           string            `json:"image"`
	User            string            `json:"user"`
	ReadOnly        bool              `json:"read_only"`
	CapDrop         []string          `json:"cap_drop"`
	SecurityOpt     []string          `json:"security_opt"`
	Tmpfs           []string          `json:"tmpfs"`
	Ports           []string          `json:"ports,omitempty"`
	Environment     map[string]string `json:"environment,omitempty"`
	Healthcheck     *composeHealth    `json:"healthcheck,omitempty"`
	MemLimit        string            `json:"mem_limit"`
	MemReservation  string            `json:"mem_reservation"`
	CPUs            string            `json:"cpus"`
	StopGracePeriod string            `json:"stop_grace_period"`
	Labels          map[string]string `json:"labels"`
	Restart         string            `json:"restart"`
}

type composeHealth struct {
	Test        []string `json:"test"`
	Interval    string   `json:"interval,omitempty"`
	Timeout     string   `json:"timeout,omitempty"`
	StartPeriod string   `json:"start_period,omitempty"`
	Retries     int      `json:"retries,omitempty"`
}

// compose writes compose.yaml: one service, as hardened as the Deployment.
func (s *spec) compose() ([]byte, error) {
	mem, memReq, cpu := s.limits["memory"], s.requests["memory"], s.limits["cpu"]
	svc := composeService{
		Image:           s.Image,
		User:            s.user(),
		ReadOnly:        true,
		CapDrop:         []string{"ALL"},
		SecurityOpt:     []string{"no-new-privileges:true"},
		Tmpfs:           []string{"/tmp"},
		MemLimit:        strconv.FormatInt(mem.Value(), 10) + "b",
		MemReservation:  strconv.FormatInt(memReq.Value(), 10) + "b",
		CPUs:            strconv.FormatFloat(float64(cpu.MilliValue())/1000, 'f', -1, 64),
		StopGracePeriod: s.grace.String(),
		Labels:          s.labels,
		Restart:         "unless-stopped",
		Healthcheck:     s.composeHealth(),
	}
	for _, p := range s.ports {
		svc.Ports = append(svc.Ports, fmt.Sprintf("%d:%d/%s", p.number, p.number, p.name()[:3]))
	}
	if len(s.Env) > 0 {
		svc.Environment = map[string]string{}
		for _, e := range s.env() {
			svc.Environment[e.Name] = e.Value
		}
	}
	return yaml.Marshal(composeFile{Services: map[string]composeService{s.Name: svc}})
}

// composeHealth is the image's healthcheck, repeated: an engine that drops
// it from an OCI-typed image (podman) still runs it.
func (s *spec) composeHealth() *composeHealth {
	hc := s.Config.Config.Healthcheck
	if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return nil
	}
	return &composeHealth{
		Test:        hc.Test,
		Interval:    duration(hc.Interval),
		Timeout:     duration(hc.Timeout),
		StartPeriod: duration(hc.StartPeriod),
		Retries:     hc.Retries,
	}
}

func duration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}
