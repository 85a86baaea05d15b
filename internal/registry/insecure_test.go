package registry

import "testing"

func TestInsecureOption(t *testing.T) {
	insecure := []string{"registry.test:5000", "10.0.0.7"}
	for reg, want := range map[string]bool{
		"registry.test:5000": true,
		"10.0.0.7":           true,
		"registry.test":      false,
		"registry.test:5001": false,
		"ghcr.io":            false,
	} {
		if got := len(insecureOption(reg, insecure)) == 1; got != want {
			t.Errorf("insecureOption(%q) gives name.Insecure: %v, want %v", reg, got, want)
		}
	}
	if opts := insecureOption("registry.test:5000", nil); opts != nil {
		t.Errorf("with no insecure registries, got %v", opts)
	}
}
