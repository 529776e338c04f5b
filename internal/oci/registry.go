package oci

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Options configures registry access. The zero value uses the Docker
// keychain, plain HTTP for loopback registries only, and four attempts per
// request.
type Options struct {
	// Insecure lists registries (host or host:port) that may be reached over
	// plain HTTP or TLS without certificate verification.
	Insecure []string
	// Keychain resolves credentials; nil means authn.DefaultKeychain
	// (~/.docker/config.json, DOCKER_CONFIG, credential helpers).
	Keychain authn.Keychain
	// Attempts is how many times a request is tried before giving up on a
	// transient error; 0 means 4.
	Attempts int
	// Backoff is the wait after the first failed attempt, doubled after each
	// further one; 0 means 500ms.
	Backoff time.Duration
	// Transport is the base HTTP transport; nil means a clone of
	// remote.DefaultTransport.
	Transport http.RoundTripper
	// UserAgent is sent with every request.
	UserAgent string
	// RegistryCAs maps a registry (host[:port]) to CA certificate files
	// trusted for it besides the system roots (--registry-ca HOST=FILE).
	// The system roots are Go's: SSL_CERT_FILE and SSL_CERT_DIR replace them.
	RegistryCAs map[string][]string
	// CertsDir is the directory of per-registry certificates in Docker's
	// layout; "" means DefaultCertsDir.
	CertsDir string
}

// Client reaches registries with one set of Options. It is the one place
// that knows which registries may be reached over plain HTTP or without
// certificate verification, and where credentials come from; everything
// in skiff that talks to a registry (build, test, image import, releases,
// render's digest resolution, Helm OCI charts) goes through a Client. It is
// safe for concurrent use.
type Client struct {
	opts     Options
	insecure map[string]bool
	base     http.RoundTripper
	// unverified is base without TLS verification, for the registries
	// listed as insecure; nil when base is not an *http.Transport.
	unverified http.RoundTripper
	// hosts are the transports of hosts with certificates of their own.
	hosts *hostTransports
}

// New returns a Client for opts.
func New(opts Options) *Client {
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	c := &Client{opts: opts, insecure: map[string]bool{}, hosts: &hostTransports{}}
	for _, r := range opts.Insecure {
		c.insecure[normalizeRegistry(r)] = true
	}
	c.base = opts.Transport
	if c.base == nil {
		c.base = remote.DefaultTransport.(*http.Transport).Clone()
	}
	if t, ok := c.base.(*http.Transport); ok {
		u := t.Clone()
		if u.TLSClientConfig == nil {
			u.TLSClientConfig = &tls.Config{}
		}
		u.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // only for registries the user listed as insecure
		c.unverified = u
	}
	return c
}

// normalizeRegistry turns an --insecure-registry value (host, host:port,
// optionally with a scheme or a trailing slash) into host[:port].
func normalizeRegistry(r string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(r, "http://"), "https://"), "/")
}

// WithInsecure returns a Client with the same options that also treats
// registries as insecure (a Helm release's --plain-http, for example).
func (c *Client) WithInsecure(registries ...string) *Client {
	opts := c.opts
	opts.Insecure = append(slices.Clone(opts.Insecure), registries...)
	return New(opts)
}

// IsInsecure reports whether registry (host[:port]) may be used without TLS
// verification: loopback registries and those listed in Options.Insecure.
func (c *Client) IsInsecure(registry string) bool {
	return c.insecure[registry] || isLoopback(registry)
}

func isLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseReference parses an image reference (tag or digest), marking the
// registry insecure when Options allow it.
func (c *Client) ParseReference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("parsing image reference %q: %w", s, err)
	}
	if c.insecure[ref.Context().RegistryStr()] {
		return name.ParseReference(s, name.Insecure)
	}
	return ref, nil
}

// ParseRepository parses a repository name such as registry/path/name.
func (c *Client) ParseRepository(s string) (name.Repository, error) {
	opts := []name.Option{}
	if r, err := name.NewRepository(s); err == nil && c.insecure[r.RegistryStr()] {
		opts = append(opts, name.Insecure)
	}
	r, err := name.NewRepository(s, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("parsing repository %q: %w", s, err)
	}
	return r, nil
}

// remoteOptions returns go-containerregistry options for one operation.
func (c *Client) remoteOptions(ctx context.Context, registry string) []remote.Option {
	steps := c.opts.Attempts
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(c.opts.Keychain),
		remote.WithTransport(&guard{c: c, registry: registry}),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}),
		remote.WithRetryBackoff(remote.Backoff{Duration: c.opts.Backoff, Factor: 2, Jitter: 0.1, Steps: steps}),
		remote.WithRetryPredicate(isTransient),
	}
	if c.opts.UserAgent != "" {
		opts = append(opts, remote.WithUserAgent(c.opts.UserAgent))
	}
	return opts
}

// guard refuses plain HTTP to registries that are neither loopback nor
// listed as insecure (go-containerregistry would otherwise also try HTTP for
// private addresses), and skips TLS verification only for insecure ones.
type guard struct {
	c        *Client
	registry string
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	if req.URL.Scheme == "http" && !g.c.IsInsecure(host) {
		return nil, &PlainHTTPError{Registry: host}
	}
	if req.URL.Scheme == "https" && g.c.insecure[host] && g.c.unverified != nil {
		return g.c.unverified.RoundTrip(req)
	}
	rt, err := g.c.transportFor(host, g.registry)
	if err != nil {
		return nil, err
	}
	return rt.RoundTrip(req)
}

// isTransient reports whether err is worth another attempt: network
// failures (including a refused connection, since registries restart) and
// the status codes go-containerregistry marks temporary.
func isTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary()
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTemporary || de.IsTimeout
	}
	return false
}

// PlainHTTPError is a plain-HTTP request the Client refused: the registry
// is neither loopback nor listed as insecure.
type PlainHTTPError struct {
	Registry string
}

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("refusing plain HTTP to registry %s: list it in --insecure-registry (or build.insecureRegistries) to allow it", e.Registry)
}

// ErrNotFound is returned (wrapped) when a manifest, tag or blob does not exist.
var ErrNotFound = errors.New("not found")

// UnreachableError reports a registry that could not be reached after
// retrying.
type UnreachableError struct {
	Registry string
	Attempts int
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("registry %s is unreachable after %d attempts: %v (check the address and that the registry is running; plain-HTTP registries other than localhost must be listed with --insecure-registry)", e.Registry, e.Attempts, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// classify turns go-containerregistry errors into skiff's: not-found errors
// wrap ErrNotFound, network failures become *UnreachableError.
func (c *Client) classify(err error, registry string) error {
	if err == nil {
		return nil
	}
	// First: for a loopback registry, HTTPS failing verification comes
	// with plain HTTP's 400 from the same TLS server.
	if terr := tlsError(err, registry); terr != nil {
		return terr
	}
	var te *transport.Error
	if errors.As(err, &te) {
		if te.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("%w: %w", ErrNotFound, err)
			}
		}
		return err
	}
	var plain *PlainHTTPError
	if errors.As(err, &plain) {
		// HTTPS failed and plain HTTP is not allowed: say both.
		return fmt.Errorf("registry %s: %w", registry, err)
	}
	var ue *url.Error
	var oe *net.OpError
	if errors.As(err, &oe) || (errors.As(err, &ue) && !errors.Is(err, context.Canceled)) {
		n := 1
		if isTransient(err) {
			n = c.opts.Attempts // transient errors are retried until attempts run out
		}
		return &UnreachableError{Registry: registry, Attempts: n, Err: err}
	}
	return err
}
