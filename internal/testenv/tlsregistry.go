package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Keys of .testenv/env about the TLS registries (hack/testenv.d/registries.bash).
const (
	KeyTLSRegistry        = "SKIFF_TEST_TLS_REGISTRY"
	KeyTokenRegistry      = "SKIFF_TEST_TOKEN_REGISTRY"
	KeyMTLSRegistry       = "SKIFF_TEST_MTLS_REGISTRY"
	KeyTokenService       = "SKIFF_TEST_TOKEN_SERVICE"
	KeyRegistryCA         = "SKIFF_TEST_REGISTRY_CA"
	KeyRegistryClientCert = "SKIFF_TEST_REGISTRY_CLIENT_CERT"
	KeyRegistryClientKey  = "SKIFF_TEST_REGISTRY_CLIENT_KEY"
	KeyRegistryUser       = "SKIFF_TEST_REGISTRY_USER"
	KeyRegistryPassword   = "SKIFF_TEST_REGISTRY_PASSWORD"
	KeyRegistryJobToken   = "SKIFF_TEST_REGISTRY_JOB_TOKEN"
)

// Keys of the same registries and token service as the real node's pods
// reach them, on its bridge address; empty without the real node.
const (
	KeyTLSRegistryForPods   = "SKIFF_TEST_TLS_REGISTRY_FOR_PODS"
	KeyTokenRegistryForPods = "SKIFF_TEST_TOKEN_REGISTRY_FOR_PODS"
	KeyMTLSRegistryForPods  = "SKIFF_TEST_MTLS_REGISTRY_FOR_PODS"
	KeyTokenServiceForPods  = "SKIFF_TEST_TOKEN_SERVICE_FOR_PODS"
)

// TLSRegistries are the sandbox's TLS registries: the same distribution
// registry as Registry, served over TLS with a certificate for 127.0.0.1
// (and the real node's bridge address) signed by a CA the sandbox made (not
// in the system roots).
type TLSRegistries struct {
	// Basic requires HTTP basic auth (htpasswd).
	Basic string
	// Token requires a Bearer token from the sandbox's token service
	// (distribution's auth.token; the WWW-Authenticate: Bearer flow).
	Token string
	// MTLS requires a client certificate signed by CA, and no auth.
	MTLS string
	// CA is the PEM file of the CA that signed the registries' certificates.
	CA string
	// ClientCert and ClientKey are a client pair MTLS accepts.
	ClientCert, ClientKey string
	// User and Password log in to Basic and Token.
	User, Password string
	// JobToken is the password of the user gitlab-ci-token, as GitLab's
	// CI_JOB_TOKEN is.
	JobToken string
	// TokenService is the token service Token sends clients to.
	TokenService string
}

// TLSRegistriesForPods are the sandbox's TLS registries as pods on the real
// node reach them: the same storage, users, CA and ports, on the node's
// bridge address (which the server certificate names); the token
// registry's realm is the token service's bridge address.
type TLSRegistriesForPods struct {
	Basic, Token, MTLS, TokenService string
}

// TLSRegistries returns the sandbox's TLS registries; it fails the test
// when the sandbox was started without them.
func (e *Env) TLSRegistries(t testing.TB) *TLSRegistries {
	t.Helper()
	r := &TLSRegistries{
		Basic: e.Var(KeyTLSRegistry), Token: e.Var(KeyTokenRegistry), MTLS: e.Var(KeyMTLSRegistry),
		CA: e.Var(KeyRegistryCA), ClientCert: e.Var(KeyRegistryClientCert), ClientKey: e.Var(KeyRegistryClientKey),
		User: e.Var(KeyRegistryUser), Password: e.Var(KeyRegistryPassword), JobToken: e.Var(KeyRegistryJobToken),
		TokenService: e.Var(KeyTokenService),
	}
	for k, v := range map[string]string{KeyTLSRegistry: r.Basic, KeyTokenRegistry: r.Token, KeyMTLSRegistry: r.MTLS, KeyRegistryCA: r.CA, KeyRegistryPassword: r.Password, KeyRegistryJobToken: r.JobToken} {
		if v == "" {
			t.Fatalf("the sandbox has no %s: it was started before the TLS registries existed; run hack/testenv up", k)
		}
	}
	if _, err := os.Stat(r.CA); err != nil {
		t.Fatalf("the sandbox's registry CA: %v; run hack/testenv up", err)
	}
	return r
}

// TLSRegistriesForPods returns the TLS registries as the real node's pods reach them; it
// fails the test when the sandbox has no real node or was started by an
// older hack/testenv.
func (e *Env) TLSRegistriesForPods(t testing.TB) *TLSRegistriesForPods {
	t.Helper()
	p := &TLSRegistriesForPods{
		Basic: e.Var(KeyTLSRegistryForPods), Token: e.Var(KeyTokenRegistryForPods),
		MTLS: e.Var(KeyMTLSRegistryForPods), TokenService: e.Var(KeyTokenServiceForPods),
	}
	if p.Basic == "" || p.Token == "" || p.MTLS == "" || p.TokenService == "" {
		t.Fatalf("%s has no %s: the sandbox runs without the real node, or was started by an older hack/testenv; run hack/testenv up as root", EnvFile, KeyTokenRegistryForPods)
	}
	return p
}

// RequireTLSRegistries is Require followed by TLSRegistries.
func RequireTLSRegistries(t testing.TB) (*Env, *TLSRegistries) {
	t.Helper()
	env := Require(t)
	return env, env.TLSRegistries(t)
}

// Repo returns a fresh repository name in registry (one of r's), unique
// per test like Env.Repo.
func (r *TLSRegistries) Repo(t testing.TB, registry, name string) string {
	t.Helper()
	return fmt.Sprintf("%s/%s/%s-%s", registry, sanitize(t.Name()), name, randomSuffix())
}
