package base_test

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"golang.org/x/crypto/x509roots/fallback/bundle"

	"github.com/buildercli/builder/internal/base"
	"github.com/buildercli/builder/internal/layers"
)

// caBundle calls CABundle and fails the test on error.
func caBundle(t *testing.T) ([]byte, int) {
	t.Helper()
	pemData, n, err := base.CABundle()
	if err != nil {
		t.Fatalf("CABundle: %v", err)
	}
	return pemData, n
}

func TestCABundle(t *testing.T) {
	pemData, n := caBundle(t)
	if n < 100 {
		t.Errorf("CABundle holds %d roots, want at least 100", n)
	}

	got := map[string]bool{} // DER of each root in the bundle
	blocks := 0
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			if len(bytes.TrimSpace(rest)) != 0 {
				t.Errorf("CABundle has %d bytes after its last PEM block", len(rest))
			}
			break
		}
		blocks++
		if b.Type != "CERTIFICATE" {
			t.Errorf("block %d has type %q, want CERTIFICATE", blocks, b.Type)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Errorf("block %d does not parse: %v", blocks, err)
			continue
		}
		if !cert.IsCA {
			t.Errorf("block %d (%s) is not a CA certificate", blocks, cert.Subject)
		}
		if got[string(b.Bytes)] {
			t.Errorf("block %d (%s) is listed twice", blocks, cert.Subject)
		}
		got[string(b.Bytes)] = true
	}
	if blocks != n {
		t.Errorf("CABundle says it holds %d roots; it has %d PEM blocks", n, blocks)
	}

	want := map[string]bool{}
	constrained := 0
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			constrained++
			if got[string(root.Certificate)] {
				cert, _ := x509.ParseCertificate(root.Certificate)
				t.Errorf("constrained root %v is in the bundle", cert.Subject)
			}
			continue
		}
		want[string(root.Certificate)] = true
	}
	t.Logf("%d roots, %d constrained ones left out", n, constrained)
	if len(got) != len(want) {
		t.Errorf("bundle has %d distinct roots, want the %d unconstrained ones", len(got), len(want))
	}
	for der := range want {
		if !got[der] {
			cert, _ := x509.ParseCertificate([]byte(der))
			t.Errorf("unconstrained root %v is missing from the bundle", cert.Subject)
		}
	}
}

// tarFile is one entry of a layer as read back.
type tarFile struct {
	Typeflag byte
	Mode     int64
	UID, GID int
	Content  string
}

// readLayer returns the entries of l by name, and their names in order.
func readLayer(t *testing.T, l v1.Layer) (map[string]tarFile, []string) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatalf("Uncompressed: %v", err)
	}
	t.Cleanup(func() { rc.Close() })
	files := map[string]tarFile{}
	var names []string
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", hdr.Name, err)
		}
		if !hdr.ModTime.Equal(layers.Epoch) || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: mtime %v, uname %q, gname %q; want %v and no names", hdr.Name, hdr.ModTime, hdr.Uname, hdr.Gname, layers.Epoch)
		}
		names = append(names, hdr.Name)
		files[hdr.Name] = tarFile{Typeflag: hdr.Typeflag, Mode: hdr.Mode, UID: hdr.Uid, GID: hdr.Gid, Content: string(data)}
	}
	return files, names
}

// account is one line of /etc/passwd.
type account struct {
	Name, UID, GID, Home, Shell string
}

func parsePasswd(t *testing.T, s string) []account {
	t.Helper()
	var out []account
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		f := strings.Split(line, ":")
		if len(f) != 7 {
			t.Fatalf("passwd line %q has %d fields, want 7", line, len(f))
		}
		out = append(out, account{Name: f[0], UID: f[2], GID: f[3], Home: f[5], Shell: f[6]})
	}
	return out
}

func TestLayer(t *testing.T) {
	l, err := base.BuiltinLayer()
	if err != nil {
		t.Fatalf("Layer: %v", err)
	}
	if err := validate.Layer(l); err != nil {
		t.Errorf("validate.Layer: %v", err)
	}
	files, names := readLayer(t, l)

	wantNames := []string{
		"etc/", "etc/group", "etc/nsswitch.conf", "etc/os-release", "etc/passwd",
		"etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt",
		"home/", "home/nonroot/", "root/", "tmp/",
	}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Fatalf("layer entries (-want +got):\n%s", diff)
	}

	wantModes := map[string]tarFile{
		"etc/":                              {Typeflag: tar.TypeDir, Mode: 0o755},
		"etc/passwd":                        {Typeflag: tar.TypeReg, Mode: 0o644},
		"home/nonroot/":                     {Typeflag: tar.TypeDir, Mode: 0o755, UID: 65532, GID: 65532},
		"root/":                             {Typeflag: tar.TypeDir, Mode: 0o700},
		"tmp/":                              {Typeflag: tar.TypeDir, Mode: 0o1777},
		"etc/ssl/certs/ca-certificates.crt": {Typeflag: tar.TypeReg, Mode: 0o644},
	}
	for name, want := range wantModes {
		got := files[name]
		got.Content = ""
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}

	wantAccounts := []account{
		{"root", "0", "0", "/root", "/sbin/nologin"},
		{"nobody", "65534", "65534", "/nonexistent", "/sbin/nologin"},
		{"nonroot", "65532", "65532", "/home/nonroot", "/sbin/nologin"},
	}
	if diff := cmp.Diff(wantAccounts, parsePasswd(t, files["etc/passwd"].Content)); diff != "" {
		t.Errorf("/etc/passwd (-want +got):\n%s", diff)
	}
	for _, a := range wantAccounts {
		if got, want := strconv.Itoa(base.Users[a.Name]), a.UID; got != want {
			t.Errorf("Users[%q] = %s, want %s as in /etc/passwd", a.Name, got, want)
		}
	}
	if base.NonrootHome != "/home/nonroot" || base.NonrootUID != 65532 {
		t.Errorf("NonrootHome, NonrootUID = %q, %d; want the passwd entry's /home/nonroot, 65532", base.NonrootHome, base.NonrootUID)
	}
	for _, want := range []string{"root:x:0:", "nobody:x:65534:", "nonroot:x:65532:"} {
		if !strings.Contains(files["etc/group"].Content, want+"\n") {
			t.Errorf("/etc/group lacks %q:\n%s", want, files["etc/group"].Content)
		}
	}
	if !strings.Contains(files["etc/nsswitch.conf"].Content, "hosts: files dns\n") {
		t.Errorf("/etc/nsswitch.conf does not look up files before dns:\n%s", files["etc/nsswitch.conf"].Content)
	}
	if want := "VERSION_ID=" + base.Version + "\n"; !strings.Contains(files["etc/os-release"].Content, want) {
		t.Errorf("/etc/os-release lacks %q:\n%s", want, files["etc/os-release"].Content)
	}
	certs, _ := caBundle(t)
	if files["etc/ssl/certs/ca-certificates.crt"].Content != string(certs) {
		t.Errorf("%s differs from CABundle()", base.CertFile)
	}
}

// image calls Image and fails the test on error.
func image(t *testing.T, p v1.Platform) v1.Image {
	t.Helper()
	img, err := base.Builtin(p)
	if err != nil {
		t.Fatalf("Image(%v): %v", p, err)
	}
	return img
}

func imageDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return d
}

func TestImage(t *testing.T) {
	for _, p := range []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
	} {
		t.Run(p.String(), func(t *testing.T) {
			img := image(t, p)
			if err := validate.Image(img); err != nil {
				t.Fatalf("validate.Image: %v", err)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatalf("Manifest: %v", err)
			}
			gotTypes := []types.MediaType{m.MediaType, m.Config.MediaType}
			for _, l := range m.Layers {
				gotTypes = append(gotTypes, l.MediaType)
			}
			if diff := cmp.Diff([]types.MediaType{types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer}, gotTypes); diff != "" {
				t.Errorf("media types (-want +got):\n%s", diff)
			}

			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatalf("ConfigFile: %v", err)
			}
			if diff := cmp.Diff(p, v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}); diff != "" {
				t.Errorf("config platform (-want +got):\n%s", diff)
			}
			if !cf.Created.Equal(layers.Epoch) {
				t.Errorf("created = %v, want %v", cf.Created.Time, layers.Epoch)
			}
			if got, want := cf.Config.User, "65532:65532"; got != want {
				t.Errorf("user = %q, want %q", got, want)
			}
			if got, want := cf.Config.WorkingDir, "/home/nonroot"; got != want {
				t.Errorf("working dir = %q, want %q", got, want)
			}
			wantEnv := []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
			}
			if diff := cmp.Diff(wantEnv, cf.Config.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			if len(cf.History) != 1 || !strings.Contains(cf.History[0].CreatedBy, base.Version) {
				t.Errorf("history = %+v, want one entry naming version %s", cf.History, base.Version)
			}

			if diff := cmp.Diff(imageDigest(t, img), imageDigest(t, image(t, p))); diff != "" {
				t.Errorf("second Image(%v) digest (-want +got):\n%s", p, diff)
			}
		})
	}
}

func TestImageDigestsDifferByPlatform(t *testing.T) {
	seen := map[v1.Hash]string{}
	for _, p := range []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64"},
		{OS: "linux", Architecture: "arm", Variant: "v6"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
	} {
		d := imageDigest(t, image(t, p))
		if other, ok := seen[d]; ok {
			t.Errorf("%s and %s have the same digest %s", other, p.String(), d)
		}
		seen[d] = p.String()
	}
}
