// Command tlsprobe checks, from inside a container, that a Go program there
// verifies TLS peers against the image's CA bundle. It prints a line per
// check, then OK, and exits 0 only if every check holds.
//
// It is a test artifact of the end-to-end tests: they build it with
// CGO_ENABLED=0 and copy it into an unpacked image's rootfs.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// minRoots is the fewest roots a real CA bundle holds (Mozilla's has ~150).
const minRoots = 100

func main() {
	failed := false
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"system roots from SSL_CERT_FILE", checkRoots},
		{"public chain verifies against them, and only them", checkChain},
		{"self-signed server is rejected", checkHandshake},
	} {
		if err := c.run(); err != nil {
			fmt.Printf("FAIL %s: %v\n", c.name, err)
			failed = true
			continue
		}
		fmt.Printf("ok   %s\n", c.name)
	}
	if failed {
		os.Exit(1)
	}
	fmt.Println("OK")
}

func checkRoots() error {
	file := os.Getenv("SSL_CERT_FILE")
	if file == "" {
		return errors.New("SSL_CERT_FILE is not set")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n := 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if _, err := x509.ParseCertificate(block.Bytes); err == nil && block.Type == "CERTIFICATE" {
			n++
		}
	}
	if n < minRoots {
		return fmt.Errorf("%s holds %d certificates, want at least %d", file, n, minRoots)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		return fmt.Errorf("loading the system pool: %w", err)
	}
	// On Linux, Subjects lists the system pool's roots; its deprecation is
	// about the platform verifiers of macOS and Windows.
	if n := len(pool.Subjects()); n < minRoots { //nolint:staticcheck
		return fmt.Errorf("the system pool holds %d roots, want at least %d", n, minRoots)
	}
	return nil
}

// checkChain verifies www.google.com's 2023 chain (GTS CA 1C3, under GTS
// Root R1) at a time it was valid: it must verify with the system roots and
// fail with none.
func checkChain() error {
	leaf, err := parsePEM(googleLeaf)
	if err != nil {
		return err
	}
	inter, err := parsePEM(gtsIntermediate)
	if err != nil {
		return err
	}
	system, err := x509.SystemCertPool()
	if err != nil {
		return fmt.Errorf("loading the system pool: %w", err)
	}
	opts := x509.VerifyOptions{
		DNSName:       "www.google.com",
		Intermediates: x509.NewCertPool(),
		Roots:         system,
		CurrentTime:   time.Unix(chainTime, 0),
	}
	opts.Intermediates.AddCert(inter)
	chains, err := leaf.Verify(opts)
	if err != nil {
		return fmt.Errorf("verifying against the system roots: %w", err)
	}
	chain := chains[0]
	if root := chain[len(chain)-1].Subject.CommonName; root != "GTS Root R1" {
		return fmt.Errorf("verified up to %q, want GTS Root R1", root)
	}
	opts.Roots = x509.NewCertPool()
	_, err = leaf.Verify(opts)
	if !errors.As(err, new(x509.UnknownAuthorityError)) {
		return fmt.Errorf("verifying against no roots gave %v, want an unknown authority", err)
	}
	return nil
}

// checkHandshake serves TLS on loopback with a fresh self-signed certificate.
// A client with the default config must reject it as of an unknown
// authority; a client that trusts it must connect, proving the server works.
func checkHandshake() error {
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	defer ln.Close()
	go serve(ln)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	addr := ln.Addr().String()
	conn, err := tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{})
	if err == nil {
		conn.Close()
		return errors.New("the handshake with a self-signed server succeeded: verification is off")
	}
	if !errors.As(err, new(x509.UnknownAuthorityError)) {
		return fmt.Errorf("the handshake failed with %v, want an unknown authority", err)
	}
	trusting := x509.NewCertPool()
	trusting.AddCert(cert.Leaf)
	conn, err = tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{RootCAs: trusting})
	if err != nil {
		return fmt.Errorf("the handshake trusting the server failed: %w", err)
	}
	return conn.Close()
}

// serve completes handshakes on ln until it is closed.
func serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_ = conn.(*tls.Conn).Handshake()
		}()
	}
}

// selfSigned makes a certificate for 127.0.0.1, valid for an hour.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating a key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tlsprobe"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating a certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parsing the certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func parsePEM(s string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}
