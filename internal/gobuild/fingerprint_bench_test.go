package gobuild_test

import (
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/gobuild"
)

// BenchmarkFingerprintRepo fingerprints this repository's build of ./app.
func BenchmarkFingerprintRepo(b *testing.B) {
	opts := gobuild.Options{Dir: "../..", Package: "./app", Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Env: os.Environ(), Output: "/tmp/x"}
	for b.Loop() {
		if gobuild.Fingerprint(opts) == "" {
			b.Fatal("no fingerprint")
		}
	}
}
