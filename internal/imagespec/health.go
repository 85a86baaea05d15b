package imagespec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Healthcheck timings used where a service's settings give none.
const (
	HealthInterval    = 30 * time.Second
	HealthTimeout     = 3 * time.Second
	HealthStartPeriod = 5 * time.Second
	HealthRetries     = 3
)

// Timing says how often and how patiently a healthcheck runs; zero fields
// take the defaults above.
type Timing struct {
	Interval, Timeout, StartPeriod time.Duration
	Retries                        int
}

// Healthcheck runs argv (a program inside the image and its arguments),
// which exits 0 when the service is healthy.
func Healthcheck(argv []string, t Timing) *v1.HealthConfig {
	h := &v1.HealthConfig{
		Test:        append([]string{"CMD"}, argv...),
		Interval:    HealthInterval,
		Timeout:     HealthTimeout,
		StartPeriod: HealthStartPeriod,
		Retries:     HealthRetries,
	}
	if t.Interval > 0 {
		h.Interval = t.Interval
	}
	if t.Timeout > 0 {
		h.Timeout = t.Timeout
	}
	if t.StartPeriod > 0 {
		h.StartPeriod = t.StartPeriod
	}
	if t.Retries > 0 {
		h.Retries = t.Retries
	}
	return h
}

// ParsePort reads "8080", "8080/tcp", "53/udp" or "9000/sctp" and returns
// it as the config writes it, "8080/tcp".
func ParsePort(s string) (string, error) {
	num, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 || strings.HasPrefix(num, "0") || strings.HasPrefix(num, "+") {
		return "", fmt.Errorf("port %q: the number must be 1 to 65535, e.g. 8080 or 53/udp", s)
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return "", fmt.Errorf("port %q: the protocol must be tcp, udp or sctp", s)
	}
	return strconv.Itoa(n) + "/" + proto, nil
}
