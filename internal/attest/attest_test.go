package attest_test

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/buildercli/builder/internal/attest"
	"github.com/buildercli/builder/internal/moduletest"
)

// commit is a git commit id, 40 hex digits as in-toto's gitCommit wants.
var commit = strings.Repeat("0123456789", 4)

// hash returns a sha256 digest of s.
func hash(s string) v1.Hash {
	sum := sha256.Sum256([]byte(s))
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// input describes a two-platform index of binary built on a registry base,
// from a git checkout; change it for other cases.
func input(binary string) attest.Input {
	in := attest.Input{
		Name: "registry.example.com/team/hello", App: "example.com/hello/cmd/hello", Version: "v1.2.3",
		Commit: commit, Source: "https://github.com/acme/hello",
		Created: time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600)),
		Base:    "127.0.0.1:5000/base:v1", BaseDigest: hash("base index"),
		Subject: v1.Descriptor{MediaType: types.OCIImageIndex, Digest: hash("index"), Size: 1234},
		Build: attest.BuildSettings{Package: "./cmd/hello", Flags: []string{"-trimpath"},
			Ldflags: "-s -w -X main.version=v1.2.3", Env: []string{"GOEXPERIMENT=none"}},
		BuilderVersion: "v0.9.0",
	}
	for _, arch := range []string{"amd64", "arm64"} {
		in.Images = append(in.Images, attest.Image{
			Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: hash("image " + arch), Size: 567,
				Platform: &v1.Platform{OS: "linux", Architecture: arch}},
			BaseDigest: hash("base " + arch),
			Binary:     binary,
		})
	}
	return in
}

// appBinary is the repository's own service, ./app: its build info lists
// real modules with go.sum hashes (gin, prometheus…). A test binary would
// not do: go test leaves the dependencies out of its build info.
func appBinary(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("locating the repository: %v", err)
	}
	out := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("go", "build", "-o", out, "./app")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./app: %v\n%s", err, msg)
	}
	return out
}

// goBuild writes a module (path → content) and compiles its package ./app
// statically; it returns the binary.
func goBuild(t *testing.T, files map[string]string) string {
	t.Helper()
	root := moduletest.Write(t, files)
	out := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("go", "build", "-o", out, "./app")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

// tinyBinary has no dependency at all.
func tinyBinary(t *testing.T) string {
	t.Helper()
	return goBuild(t, map[string]string{
		"go.mod":      "module example.com/hello\n\ngo 1.22\n",
		"app/main.go": "package main\n\nfunc main() { println(\"hello\") }\n",
	})
}

// replacedBinary depends on example.com/dep, replaced by a directory.
func replacedBinary(t *testing.T) string {
	t.Helper()
	return goBuild(t, map[string]string{
		"go.mod":      "module example.com/hello\n\ngo 1.22\n\nrequire example.com/dep v1.0.0\n\nreplace example.com/dep => ./dep\n",
		"app/main.go": "package main\n\nimport \"example.com/dep\"\n\nfunc main() { println(dep.Hi()) }\n",
		"dep/go.mod":  "module example.com/dep\n\ngo 1.22\n",
		"dep/dep.go":  "package dep\n\nfunc Hi() string { return \"hi\" }\n",
	})
}

func readBuildInfo(t *testing.T, binary string) *buildinfo.BuildInfo {
	t.Helper()
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatalf("reading the build info of %s: %v", binary, err)
	}
	return bi
}

func TestMake(t *testing.T) {
	in := input(tinyBinary(t))
	for _, tc := range []struct {
		name             string
		sbom, provenance bool
	}{{"both", true, true}, {"SBOMs", true, false}, {"provenance", false, true}, {"none", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := attest.Make(in, tc.sbom, tc.provenance)
			if err != nil {
				t.Fatalf("Make: %v", err)
			}
			if want := map[bool]int{true: len(in.Images)}[tc.sbom]; len(r.SBOMs) != want {
				t.Errorf("%d SBOMs, want %d", len(r.SBOMs), want)
			}
			for i, doc := range r.SBOMs {
				want, err := attest.SBOM(in, in.Images[i])
				if err != nil {
					t.Fatalf("SBOM: %v", err)
				}
				if !bytes.Equal(doc, want) {
					t.Errorf("SBOM %d is not the SBOM of image %d", i, i)
				}
			}
			if (r.Provenance != nil) != tc.provenance {
				t.Errorf("provenance: %d bytes, want one: %v", len(r.Provenance), tc.provenance)
			}
		})
	}
}

func TestRecordsNeedGoBinaries(t *testing.T) {
	notGo := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notGo, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatalf("writing %s: %v", notGo, err)
	}
	in := input(notGo)
	if _, err := attest.SBOM(in, in.Images[0]); err == nil || !strings.Contains(err.Error(), "reading the build info") {
		t.Errorf("SBOM of a non-Go binary: %v, want a build info error", err)
	}
	if _, err := attest.Provenance(in); err == nil || !strings.Contains(err.Error(), "reading the build info") {
		t.Errorf("Provenance of a non-Go binary: %v, want a build info error", err)
	}
	in.Images = nil
	if _, err := attest.Provenance(in); err == nil {
		t.Errorf("Provenance without images worked")
	}
}
