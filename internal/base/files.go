package base

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// Account names and IDs of the built-in base, as distroless has them.
const (
	NonrootUID  = 65532
	NonrootHome = "/home/nonroot"
)

const passwd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`

const group = `root:x:0:
nobody:x:65534:
nonroot:x:65532:
`

// nsswitch.conf makes Go's resolver (and any libc) read /etc/hosts before DNS.
const nsswitch = `passwd: files
group: files
hosts: files dns
`

const osRelease = `PRETTY_NAME="builder static base ` + Version + `"
NAME="builder static base"
ID=builder-static
VERSION_ID=` + Version + `
HOME_URL="https://github.com/buildercli/builder"
`

// Users maps the account names of the built-in base to their UIDs.
var Users = map[string]int{"root": 0, "nobody": 65534, "nonroot": NonrootUID}

// CABundle returns the PEM bundle written to /etc/ssl/certs/ca-certificates.crt
// and the number of roots it holds.
//
// The roots come from golang.org/x/crypto/x509roots/fallback/bundle (Mozilla's
// NSS store, pinned by go.sum). A root that carries a constraint PEM cannot
// express (NSS's "distrust after" date for server certificates) is left out:
// written as a plain root it would be trusted without its limit, for
// certificates its owner is no longer trusted to issue.
func CABundle() ([]byte, int, error) {
	var buf bytes.Buffer
	n := 0
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		cert, err := x509.ParseCertificate(root.Certificate)
		if err != nil {
			return nil, 0, fmt.Errorf("parsing root certificate %d: %w", n, err)
		}
		fmt.Fprintf(&buf, "# %s\n", cert.Subject)
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, 0, fmt.Errorf("encoding root certificate %s: %w", cert.Subject, err)
		}
		n++
	}
	return buf.Bytes(), n, nil
}
