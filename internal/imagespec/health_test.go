package imagespec_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/imagespec"
)

func TestHealthcheckTiming(t *testing.T) {
	got := imagespec.Healthcheck([]string{"/bin/x", "ok"}, imagespec.Timing{Interval: 10 * time.Second})
	want := &v1.HealthConfig{Test: []string{"CMD", "/bin/x", "ok"}, Interval: 10 * time.Second,
		Timeout: imagespec.HealthTimeout, StartPeriod: imagespec.HealthStartPeriod, Retries: imagespec.HealthRetries}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Healthcheck (-want +got):\n%s", diff)
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]string{
		"8080": "8080/tcp", "8080/tcp": "8080/tcp", "53/udp": "53/udp", "9000/sctp": "9000/sctp", "65535": "65535/tcp",
		"0": "", "65536": "", "-1": "", "+80": "", "080": "", "80/http": "", "http": "", "": "", "80/": "", "8080 ": "",
	} {
		got, err := imagespec.ParsePort(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParsePort(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParsePort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
