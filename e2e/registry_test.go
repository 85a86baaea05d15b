package e2e

// A real registry for the publish tests: Debian's docker-registry
// (distribution 2.8) as a child process on loopback, either with TLS from a
// CA made here and htpasswd auth, or over plain HTTP without auth. Its log
// is shown when the test fails.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const (
	// regUser and regPass are the registry's only credentials. The password
	// is distinctive, so that finding it in output means it leaked.
	regUser = "e2e-user"
	regPass = "Pa55-e2e-secret-7c1f"
	// readyTimeout bounds the registry's start.
	readyTimeout = 30 * time.Second
)

// registryTools are the programs a registry fixture runs, besides crane.
var registryTools = []string{"docker-registry", "htpasswd", "git"}

// requireRegistryTools is requireE2E plus the registry's own tools.
func requireRegistryTools(t *testing.T) {
	t.Helper()
	requireE2E(t)
	for _, tool := range registryTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("BUILDER_E2E=1 but %s is missing: %v (apt-get install -y docker-registry apache2-utils git)", tool, err)
		}
	}
}

// registry is a running docker-registry.
type registry struct {
	host      string      // 127.0.0.1:PORT
	caFile    string      // PEM of the CA that signed its certificate; "" over plain HTTP
	certDir   string      // holds the CA as ca.crt, for skopeo --cert-dir
	dockerDir string      // a DOCKER_CONFIG with the right credentials
	crane     string      // the crane binary
	log       *syncBuffer // what docker-registry wrote
}

// startRegistry starts a registry with TLS and htpasswd auth when secure,
// else over plain HTTP without auth, and waits until it answers. A cleanup
// stops it, and shows its log if t failed.
func startRegistry(t *testing.T, secure bool) *registry {
	t.Helper()
	requireRegistryTools(t)
	dir := t.TempDir()
	r := &registry{host: fmt.Sprintf("127.0.0.1:%d", freePort(t)), crane: cranePath(t), log: &syncBuffer{}}
	cfg := fmt.Sprintf("version: 0.1\nlog: {level: warn, formatter: text}\n"+
		"storage: {filesystem: {rootdirectory: %q}, delete: {enabled: true}}\n", filepath.Join(dir, "storage"))
	listen := fmt.Sprintf("http: {addr: %q, secret: e2e-secret", r.host)
	if secure {
		var crt, key string
		r.caFile, crt, key = writeCerts(t, dir)
		r.certDir = filepath.Join(dir, "certs")
		if err := os.Mkdir(r.certDir, 0o755); err != nil {
			t.Fatalf("making the skopeo cert dir: %v", err)
		}
		copyFile(t, r.caFile, filepath.Join(r.certDir, "ca.crt"))
		listen += fmt.Sprintf(", tls: {certificate: %q, key: %q}", crt, key)
		cfg += fmt.Sprintf("auth: {htpasswd: {realm: e2e, path: %q}}\n", writeHtpasswd(t, dir))
		r.dockerDir = dockerConfig(t, regUser, regPass, r.host)
	} else {
		r.dockerDir = t.TempDir()
	}
	cfg += listen + "}\n"
	cfgFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatalf("writing the registry config: %v", err)
	}

	cmd := exec.Command("docker-registry", "serve", cfgFile)
	cmd.Stdout, cmd.Stderr = r.log, r.log
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting docker-registry: %v", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		if err := cmd.Process.Kill(); err != nil {
			t.Logf("cleanup: killing docker-registry: %v", err)
		}
		<-done
		if t.Failed() {
			t.Logf("docker-registry on %s logged:\n%s", r.host, r.log)
		}
	})
	r.waitReady(t, done, &waitErr)
	return r
}

// waitReady polls /v2/ until it answers 401 (with auth) or 200 (without),
// failing t if the registry exits or readyTimeout passes first.
func (r *registry) waitReady(t *testing.T, done <-chan struct{}, waitErr *error) {
	t.Helper()
	url, want := "http://"+r.host+"/v2/", http.StatusOK
	client := http.Client{Timeout: time.Second}
	if r.caFile != "" {
		url, want = "https://"+r.host+"/v2/", http.StatusUnauthorized
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(t, r.caFile)}}
	}
	deadline := time.After(readyTimeout)
	var last error
	for {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			err = fmt.Errorf("status %s, want %d", resp.Status, want)
		}
		last = err
		select {
		case <-done:
			t.Fatalf("docker-registry exited before answering GET %s: %v\n%s", url, *waitErr, r.log)
		case <-deadline:
			t.Fatalf("docker-registry did not answer GET %s within %s: %v\n%s", url, readyTimeout, last, r.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writeCerts makes a CA and a server certificate it signs, for IP 127.0.0.1
// and DNS localhost, valid for two days; it returns the files of the CA's
// certificate and of the server's certificate and key, in PEM.
func writeCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating the CA key: %v", err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "builder e2e CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("making the CA certificate: %v", err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatalf("reading the CA certificate: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating the server key: %v", err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("making the server certificate: %v", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("encoding the server key: %v", err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	writePEM(t, caFile, "CERTIFICATE", caDER)
	writePEM(t, certFile, "CERTIFICATE", leafDER)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return caFile, certFile, keyFile
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

// certPool returns a pool holding the certificates in the PEM file.
func certPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading the CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s holds no certificate", file)
	}
	return pool
}

// writeHtpasswd writes the registry's bcrypt password file, made by htpasswd.
func writeHtpasswd(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "htpasswd")
	out := mustRun(t, "htpasswd", "-Bbn", regUser, regPass)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatalf("writing htpasswd: %v", err)
	}
	return path
}

// TestRegistryFixture checks the fixture itself: TLS with the CA, and a
// 401 without the credentials, 200 with them.
func TestRegistryFixture(t *testing.T) {
	requireRegistryTools(t)
	t.Parallel()
	r := startRegistry(t, true)
	client := http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(t, r.caFile)}}}
	for _, tc := range []struct {
		name       string
		user, pass string
		want       int
	}{
		{"anonymous", "", "", http.StatusUnauthorized},
		{"wrong password", regUser, "wrong", http.StatusUnauthorized},
		{"right password", regUser, regPass, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "https://"+r.host+"/v2/", nil)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET /v2/: %v", err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET /v2/ = %s, want %d", resp.Status, tc.want)
			}
		})
	}
}
