package oci

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// DefaultCertsDir is Docker's directory of per-registry certificates,
// which containerd and Podman read too: <dir>/<host[:port]>/ holds CA
// certificates (*.crt, ca.crt by convention) and client certificates
// (NAME.cert with NAME.key).
const DefaultCertsDir = "/etc/docker/certs.d"

// tlsFiles are the certificate files that apply to one host.
type tlsFiles struct {
	cas   []string
	pairs [][2]string // cert, key
}

// filesFor collects host's certificate files: Options.RegistryCAs first,
// then the certs directory's.
func (c *Client) filesFor(host string) (tlsFiles, error) {
	f := tlsFiles{cas: slices.Clone(c.opts.RegistryCAs[host])}
	dir := c.opts.CertsDir
	if dir == "" {
		dir = DefaultCertsDir
	}
	// A port-less host's directory also serves host:443, as Docker's does.
	hostDir := filepath.Join(dir, host)
	entries, err := os.ReadDir(hostDir)
	if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(host, ":443") {
		hostDir = filepath.Join(dir, strings.TrimSuffix(host, ":443"))
		entries, err = os.ReadDir(hostDir)
	}
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("reading registry certificates for %s: %w", host, err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".crt"):
			f.cas = append(f.cas, filepath.Join(hostDir, name))
		case strings.HasSuffix(name, ".cert"):
			key := filepath.Join(hostDir, strings.TrimSuffix(name, ".cert")+".key")
			if _, err := os.Stat(key); err != nil {
				return f, fmt.Errorf("client certificate %s has no key: put it in %s", filepath.Join(hostDir, name), key)
			}
			f.pairs = append(f.pairs, [2]string{filepath.Join(hostDir, name), key})
		}
	}
	return f, nil
}

// hostTransports caches one transport per host that has certificates of
// its own; hosts without any use the base transport (whose roots are the
// system's, which SSL_CERT_FILE and SSL_CERT_DIR replace).
type hostTransports struct {
	mu sync.Mutex
	m  map[string]http.RoundTripper
}

// transportFor is the transport for a request to host made for an
// operation on registry: the base one, or a clone of it that also trusts
// host's CAs and presents host's client certificates. A request to another
// host (the token service a registry's Bearer challenge names) also trusts
// the registry's CAs: a registry with a private CA has its token service
// under the same CA, as GitLab's does.
func (c *Client) transportFor(host, registry string) (http.RoundTripper, error) {
	key := host + " " + registry
	c.hosts.mu.Lock()
	defer c.hosts.mu.Unlock()
	if rt, ok := c.hosts.m[key]; ok {
		return rt, nil
	}
	rt, err := c.newTransport(host, registry)
	if err != nil {
		return nil, err
	}
	if c.hosts.m == nil {
		c.hosts.m = map[string]http.RoundTripper{}
	}
	c.hosts.m[key] = rt
	return rt, nil
}

func (c *Client) newTransport(host, registry string) (http.RoundTripper, error) {
	files, err := c.filesFor(host)
	if err != nil {
		return nil, err
	}
	if registry != "" && registry != host {
		reg, err := c.filesFor(registry)
		if err != nil {
			return nil, err
		}
		files.cas = append(files.cas, reg.cas...)
	}
	base, ok := c.base.(*http.Transport)
	if !ok || (len(files.cas) == 0 && len(files.pairs) == 0) {
		return c.base, nil
	}
	t := base.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	cfg := t.TLSClientConfig
	// HTTP/1.1 only: a registry refuses a missing client certificate
	// after the TLS 1.3 handshake, with an alert the first read gets, and
	// HTTP/2's connection setup loses that alert ("client conn could not
	// be established"); a registry client gains nothing from HTTP/2.
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	cfg.NextProtos = []string{"http/1.1"}
	if len(files.cas) > 0 {
		pool := cfg.RootCAs
		if pool == nil {
			if pool, err = x509.SystemCertPool(); err != nil {
				pool = x509.NewCertPool()
			}
		} else {
			pool = pool.Clone()
		}
		for _, f := range files.cas {
			if err := appendCA(pool, f); err != nil {
				return nil, fmt.Errorf("CA certificate for registry %s: %w", host, err)
			}
		}
		cfg.RootCAs = pool
	}
	for _, p := range files.pairs {
		pair, err := tls.LoadX509KeyPair(p[0], p[1])
		if err != nil {
			return nil, fmt.Errorf("client certificate for registry %s: %w", host, err)
		}
		cfg.Certificates = append(cfg.Certificates, pair)
	}
	return t, nil
}

// appendCA adds the PEM certificates of file to pool.
func appendCA(pool *x509.CertPool, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !pool.AppendCertsFromPEM(data) {
		return fmt.Errorf("%s holds no PEM certificate", file)
	}
	return nil
}

// CheckCAFile reports whether file holds at least one PEM certificate, for
// checking a --registry-ca value before anything runs.
func CheckCAFile(file string) error {
	return appendCA(x509.NewCertPool(), file)
}

// UntrustedError is a registry whose TLS certificate did not verify.
type UntrustedError struct {
	Registry string
	Err      error
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("registry %s: TLS certificate not trusted (%v): give its CA with --registry-ca %s=FILE, as %s/%s/ca.crt, or in SSL_CERT_FILE",
		e.Registry, e.Err, e.Registry, DefaultCertsDir, e.Registry)
}

func (e *UntrustedError) Unwrap() error { return e.Err }

// HandshakeRefusedError is a registry that ended the TLS handshake with an
// alert: most often it requires a client certificate skiff did not have or
// that it did not accept.
type HandshakeRefusedError struct {
	Registry string
	Err      error
}

func (e *HandshakeRefusedError) Error() string {
	return fmt.Sprintf("registry %s refused the TLS handshake (%v): if it requires a client certificate, put client.cert and client.key in %s/%s/",
		e.Registry, e.Err, DefaultCertsDir, e.Registry)
}

func (e *HandshakeRefusedError) Unwrap() error { return e.Err }

// tlsError turns a certificate failure into *UntrustedError or
// *HandshakeRefusedError; nil when err is neither.
func tlsError(err error, registry string) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		op       *net.OpError
	)
	switch {
	case errors.As(err, &verify):
		return &UntrustedError{Registry: registry, Err: verify.Err}
	case errors.As(err, &unknown):
		return &UntrustedError{Registry: registry, Err: unknown}
	case errors.As(err, &hostname):
		return &UntrustedError{Registry: registry, Err: hostname}
	case errors.As(err, &invalid):
		return &UntrustedError{Registry: registry, Err: invalid}
	case errors.As(err, &op) && op.Op == "remote error":
		// crypto/tls reports the peer's alert this way (its alert type
		// is unexported).
		return &HandshakeRefusedError{Registry: registry, Err: op}
	}
	return nil
}
