package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// runRegistryPKI writes what the sandbox's TLS registries need into -dir,
// unless it is there already: a CA (ca.crt, ca.key); a server certificate
// for 127.0.0.1, localhost and each -ip address (the real node's bridge,
// where pods reach the registries) signed by it (server.crt, server.key,
// made again with the same CA when the -ip addresses change); a
// client certificate (client.cert, client.key, Docker's certs.d names) for
// the registry that requires one; the token service's signing pair
// (token.crt, token.key); and the users: an htpasswd file with bcrypt
// hashes and, one per line as USER:PASSWORD, the plain passwords the tests
// log in with (users, mode 0600). The users are skiff-ci and
// gitlab-ci-token (GitLab's CI_JOB_TOKEN user), each with a random password.
func runRegistryPKI(_ context.Context, args []string) error {
	fs := newFlags("registry-pki")
	dir := fs.String("dir", "", "directory to write into")
	var ips []string
	fs.Func("ip", "another IP address of the server certificate (repeatable)", func(v string) error {
		if net.ParseIP(v) == nil {
			return fmt.Errorf("%q is not an IP address", v)
		}
		ips = append(ips, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	server := certSpec{cn: "127.0.0.1", hosts: append([]string{"127.0.0.1", "localhost", "::1"}, ips...), usage: x509.ExtKeyUsageServerAuth}
	if _, err := os.Stat(filepath.Join(*dir, "users")); err == nil {
		// Complete (users is written last); the server certificate may be
		// for other addresses.
		return ensureServerCert(*dir, server)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	ca, caKey, err := newCert(certSpec{cn: "skiff testenv registry CA", isCA: true}, nil, nil)
	if err != nil {
		return err
	}
	if err := writePair(*dir, "ca.crt", "ca.key", ca, caKey); err != nil {
		return err
	}
	pairs := []struct {
		crt, key string
		spec     certSpec
	}{
		{"server.crt", "server.key", server},
		{"client.cert", "client.key", certSpec{cn: "skiff testenv client", usage: x509.ExtKeyUsageClientAuth}},
		{"token.crt", "token.key", certSpec{cn: "skiff testenv token signer"}},
	}
	for _, p := range pairs {
		c, k, err := newCert(p.spec, ca, caKey)
		if err != nil {
			return err
		}
		if err := writePair(*dir, p.crt, p.key, c, k); err != nil {
			return err
		}
	}
	var htpasswd, users strings.Builder
	for _, u := range []string{"skiff-ci", "gitlab-ci-token"} {
		pw, err := randomHex(20)
		if err != nil {
			return err
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			return err
		}
		fmt.Fprintf(&htpasswd, "%s:%s\n", u, hash)
		fmt.Fprintf(&users, "%s:%s\n", u, pw)
	}
	if err := os.WriteFile(filepath.Join(*dir, "htpasswd"), []byte(htpasswd.String()), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*dir, "users"), []byte(users.String()), 0o600)
}

// ensureServerCert makes server.crt again, signed by the CA in dir, unless
// it names exactly spec's hosts.
func ensureServerCert(dir string, spec certSpec) error {
	if c, err := readCert(filepath.Join(dir, "server.crt")); err == nil && sameHosts(c, spec.hosts) {
		return nil
	}
	ca, err := readCert(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		return err
	}
	caKey, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("%s: not an ECDSA key", filepath.Join(dir, "ca.key"))
	}
	c, k, err := newCert(spec, ca, caKey)
	if err != nil {
		return err
	}
	return writePair(dir, "server.crt", "server.key", c, k)
}

func readCert(file string) (*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return x509.ParseCertificate(block.Bytes)
}

// sameHosts tells whether c is for exactly hosts (names and IPs).
func sameHosts(c *x509.Certificate, hosts []string) bool {
	var have []string
	have = append(have, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		have = append(have, ip.String())
	}
	want := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		want = append(want, h)
	}
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(slices.Compact(have), slices.Compact(want))
}

type certSpec struct {
	cn    string
	hosts []string
	isCA  bool
	usage x509.ExtKeyUsage
}

// newCert makes a P-256 key and a certificate for spec, signed by parent
// (self-signed when parent is nil), valid for 30 days.
func newCert(spec certSpec, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.cn, Organization: []string{"skiff testenv"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if spec.isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if spec.usage != 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{spec.usage}
	}
	for _, h := range spec.hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func writePair(dir, crtName, keyName string, c *x509.Certificate, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, crtName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
