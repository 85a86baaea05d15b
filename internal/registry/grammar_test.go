package registry

import "testing"

func TestValidateRepository(t *testing.T) {
	for s, ok := range map[string]bool{
		"app": true, "team/app": true, "ghcr.io/acme/app": true, "localhost:5000/app": true, "127.0.0.1:5000/a/b": true,
		"registry.example.com/team/my-app_1.x": true, "a__b": true,
		"http://x/app": false, "host/a//b": false, "Host/app": false, "Ghcr.IO/app": true, "localhost/app": true, "host/App": false, "app/": false, "/app": false,
		"a b": false, "app:tag": false, "": false, "a/-b": false, "host:port/app": false,
	} {
		if err := ValidateRepository(s); (err == nil) != ok {
			t.Errorf("ValidateRepository(%q) = %v, want ok %v", s, err, ok)
		}
	}
}
