package oci

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Keychain is skiff's credential lookup: the Docker configuration
// (DOCKER_CONFIG or ~/.docker/config.json, with its credential helpers)
// first, so that explicit entries win, then the credentials the CI system
// gives the job (CIKeychain). getenv is os.Getenv outside tests.
func Keychain(getenv func(string) string) authn.Keychain {
	return authn.NewMultiKeychain(authn.DefaultKeychain, CIKeychain(getenv))
}

// CIKeychain resolves the registry credentials a CI job has in its
// environment:
//   - GitLab (GITLAB_CI=true): for CI_REGISTRY, CI_REGISTRY_USER with
//     CI_REGISTRY_PASSWORD, else gitlab-ci-token with CI_JOB_TOKEN;
//   - GitHub Actions (GITHUB_ACTIONS=true): for ghcr.io, GITHUB_ACTOR
//     (else github-actions) with GITHUB_TOKEN.
//
// Other registries resolve to anonymous.
func CIKeychain(getenv func(string) string) authn.Keychain {
	k := ciKeychain{}
	if getenv("GITLAB_CI") == "true" && getenv("CI_REGISTRY") != "" {
		user, pw := getenv("CI_REGISTRY_USER"), getenv("CI_REGISTRY_PASSWORD")
		if user == "" || pw == "" {
			user, pw = "gitlab-ci-token", getenv("CI_JOB_TOKEN")
		}
		if pw != "" {
			k[normalizeRegistry(getenv("CI_REGISTRY"))] = authn.AuthConfig{Username: user, Password: pw}
		}
	}
	if getenv("GITHUB_ACTIONS") == "true" && getenv("GITHUB_TOKEN") != "" {
		user := getenv("GITHUB_ACTOR")
		if user == "" {
			user = "github-actions"
		}
		k["ghcr.io"] = authn.AuthConfig{Username: user, Password: getenv("GITHUB_TOKEN")}
	}
	return k
}

type ciKeychain map[string]authn.AuthConfig

func (k ciKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if c, ok := k[r.RegistryStr()]; ok {
		return authn.FromConfig(c), nil
	}
	return authn.Anonymous, nil
}

// LoginResult says where Login stored the credentials.
type LoginResult struct {
	// File is the Docker configuration file written.
	File string
	// Helper is the credential helper that holds the password; "" means
	// the file itself does (base64, unencrypted, as docker login does).
	Helper string
}

// Login checks user and password against registry (host[:port]) and, when
// the registry accepts them, stores them in the Docker configuration in
// configDir ("" means Docker's default: DOCKER_CONFIG, else ~/.docker) the
// way docker login and crane auth login do: with the credential helper the
// file names for the registry, else in config.json.
func (c *Client) Login(ctx context.Context, registry, user, password, configDir string) (LoginResult, error) {
	reg, err := c.registryName(registry)
	if err != nil {
		return LoginResult{}, err
	}
	host := reg.RegistryStr()
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, &guard{c: c, registry: host}, nil)
	if err == nil {
		err = checkLogin(ctx, rt, reg, c.IsInsecure(host))
	}
	if err != nil {
		return LoginResult{}, fmt.Errorf("logging in to %s as %s: %w", host, user, c.classify(err, host))
	}
	if configDir == "" {
		configDir = config.Dir()
	}
	cf, err := config.Load(configDir)
	if err != nil {
		return LoginResult{}, fmt.Errorf("reading the Docker configuration in %s: %w", configDir, err)
	}
	server := host
	if server == name.DefaultRegistry {
		server = authn.DefaultAuthKey
	}
	entry := types.AuthConfig{ServerAddress: server, Username: user, Password: password}
	res := LoginResult{File: cf.Filename, Helper: cf.CredentialHelpers[server]}
	if res.Helper == "" {
		res.Helper = cf.CredentialsStore
	}
	if res.Helper != "" {
		if err := cf.GetCredentialsStore(server).Store(entry); err != nil {
			return LoginResult{}, fmt.Errorf("storing the credentials for %s with docker-credential-%s: %w", server, res.Helper, err)
		}
	} else {
		// What docker's file store does, without its warning on stderr:
		// the caller says it.
		cf.AuthConfigs[server] = entry
	}
	if err := cf.Save(); err != nil {
		return LoginResult{}, fmt.Errorf("writing %s: %w", cf.Filename, err)
	}
	return res, nil
}

// checkLogin sends GET /v2/ with the credentials: over HTTPS, and plain
// HTTP after that only when the registry may be reached so.
func checkLogin(ctx context.Context, rt http.RoundTripper, reg name.Registry, plainOK bool) error {
	schemes := []string{"https"}
	if plainOK {
		schemes = append(schemes, "http")
	}
	var first error
	for _, scheme := range schemes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+reg.RegistryStr()+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: rt}).Do(req)
		if err != nil {
			if tlsError(err, "") != nil {
				return err // a TLS server: plain HTTP would only confuse
			}
			if first == nil {
				first = err
			}
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return &LoginRefusedError{Registry: reg.RegistryStr(), Status: resp.Status}
		}
		return nil
	}
	return first
}

// LoginRefusedError is a registry that did not accept the credentials.
type LoginRefusedError struct {
	Registry, Status string
}

func (e *LoginRefusedError) Error() string {
	return fmt.Sprintf("registry %s answered %s: check the user name and password", e.Registry, e.Status)
}

// registryName parses a registry host, marking it insecure when listed.
func (c *Client) registryName(registry string) (name.Registry, error) {
	registry = normalizeRegistry(registry)
	opts := []name.Option{}
	if c.insecure[registry] {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(registry, opts...)
	if err != nil || strings.Contains(registry, "/") {
		return name.Registry{}, fmt.Errorf("registry %q: want a host or host:port, such as registry.example.com:5000", registry)
	}
	return reg, nil
}
