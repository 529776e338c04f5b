package oci

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// certsDir makes a Docker certs.d directory with host's CA and, when
// client is set, the sandbox's client pair.
func certsDir(t *testing.T, r *testenv.TLSRegistries, host string, ca, client bool) string {
	t.Helper()
	dir := t.TempDir()
	hostDir := filepath.Join(dir, host)
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cp := func(from, to string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hostDir, to), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if ca {
		cp(r.CA, "ca.crt")
	}
	if client {
		cp(r.ClientCert, "client.cert")
		cp(r.ClientKey, "client.key")
	}
	return dir
}

// gitlabEnv is a GitLab job's environment for registry.
func gitlabEnv(registry, user, password, jobToken string) func(string) string {
	env := map[string]string{"GITLAB_CI": "true", "CI_REGISTRY": registry,
		"CI_REGISTRY_USER": user, "CI_REGISTRY_PASSWORD": password, "CI_JOB_TOKEN": jobToken}
	return func(k string) string { return env[k] }
}

// TestTLSRegistries pushes, resolves and pulls an image on each of the
// sandbox's TLS registries, with the CA given each supported way in the
// process (--registry-ca, certs.d; SSL_CERT_FILE is TestSSLCertFile) and the
// credentials a GitLab job has.
func TestTLSRegistries(t *testing.T) {
	_, r := testenv.RequireTLSRegistries(t)
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	for _, tc := range []struct {
		name, registry string
		env            func(string) string
		viaCertsDir    bool
		clientCert     bool
	}{
		{name: "basic auth, --registry-ca", registry: r.Basic, env: gitlabEnv(r.Basic, r.User, r.Password, "")},
		{name: "basic auth, certs.d, CI_JOB_TOKEN", registry: r.Basic, viaCertsDir: true, env: gitlabEnv(r.Basic, "", "", r.JobToken)},
		{name: "token auth, --registry-ca", registry: r.Token, env: gitlabEnv(r.Token, r.User, r.Password, "")},
		{name: "token auth, certs.d, CI_JOB_TOKEN", registry: r.Token, viaCertsDir: true, env: gitlabEnv(r.Token, "", "", r.JobToken)},
		{name: "client certificate, certs.d", registry: r.MTLS, viaCertsDir: true, clientCert: true, env: gitlabEnv("", "", "", "")},
		{name: "client certificate from certs.d, --registry-ca", registry: r.MTLS, clientCert: true, env: gitlabEnv("", "", "", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Keychain: CIKeychain(tc.env)}
			switch {
			case tc.viaCertsDir:
				opts.CertsDir = certsDir(t, r, tc.registry, true, tc.clientCert)
			default:
				opts.RegistryCAs = map[string][]string{tc.registry: {r.CA}}
				opts.CertsDir = certsDir(t, r, tc.registry, false, tc.clientCert)
			}
			c := testClient(opts)
			ref, err := c.ParseReference(r.Repo(t, tc.registry, "app") + ":v1")
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Push(t.Context(), ref, img)
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			if res.Digest != want {
				t.Errorf("pushed digest %s, want %s", res.Digest, want)
			}
			got, err := c.Digest(t.Context(), ref.String())
			if err != nil || got != want.String() {
				t.Fatalf("Digest(%s) = %s, %v; want %s", ref, got, err, want)
			}
			pulled, err := c.Image(t.Context(), ref)
			if err != nil {
				t.Fatal(err)
			}
			layers, err := pulled.Layers()
			if err != nil || len(layers) != 2 {
				t.Fatalf("pulled image: %d layers, %v; want 2", len(layers), err)
			}
			rc, err := layers[1].Compressed()
			if err != nil {
				t.Fatalf("pulling a layer: %v", err)
			}
			rc.Close()
		})
	}
}

// TestTLSRefused checks the errors without the CA, the client
// certificate or the right password: one line naming the registry and what
// to do, never the password.
func TestTLSRefused(t *testing.T) {
	_, r := testenv.RequireTLSRegistries(t)
	for _, tc := range []struct {
		name, registry string
		opts           func(t *testing.T) Options
		check          func(t *testing.T, err error)
	}{
		{name: "no CA", registry: r.Basic,
			opts: func(t *testing.T) Options { return Options{CertsDir: t.TempDir()} },
			check: func(t *testing.T, err error) {
				var u *UntrustedError
				if !errors.As(err, &u) || u.Registry != r.Basic {
					t.Fatalf("want *UntrustedError for %s, got %T: %v", r.Basic, err, err)
				}
				for _, want := range []string{r.Basic, "--registry-ca " + r.Basic + "=FILE", "certs.d/" + r.Basic + "/ca.crt", "SSL_CERT_FILE"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
			}},
		{name: "no client certificate", registry: r.MTLS,
			opts: func(t *testing.T) Options { return Options{RegistryCAs: map[string][]string{r.MTLS: {r.CA}}} },
			check: func(t *testing.T, err error) {
				var h *HandshakeRefusedError
				if !errors.As(err, &h) || !strings.Contains(err.Error(), "client.cert") {
					t.Fatalf("want *HandshakeRefusedError naming client.cert, got %T: %v", err, err)
				}
			}},
		{name: "wrong password, basic", registry: r.Basic,
			opts: func(t *testing.T) Options {
				return Options{RegistryCAs: map[string][]string{r.Basic: {r.CA}}, Keychain: CIKeychain(gitlabEnv(r.Basic, r.User, "wrong-"+r.Password, ""))}
			},
			check: func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "UNAUTHORIZED") {
					t.Fatalf("want an unauthorized error, got %v", err)
				}
			}},
		{name: "wrong password, token", registry: r.Token,
			opts: func(t *testing.T) Options {
				return Options{RegistryCAs: map[string][]string{r.Token: {r.CA}}, Keychain: CIKeychain(gitlabEnv(r.Token, r.User, "wrong-"+r.Password, ""))}
			},
			check: func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "401") {
					t.Fatalf("want a 401 from the token service, got %v", err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts(t)
			c := testClient(opts)
			img, _ := random.Image(64, 1)
			ref, err := c.ParseReference(r.Repo(t, tc.registry, "app") + ":v1")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Push(t.Context(), ref, img)
			if err == nil {
				t.Fatal("push succeeded")
			}
			if strings.Contains(err.Error(), r.Password) {
				t.Errorf("error shows the password: %v", err)
			}
			tc.check(t, err)
		})
	}
}

// TestSSLCertFile runs a push in a child process whose SSL_CERT_FILE is the
// sandbox's CA: Go reads the system roots once per process, so the variable
// cannot be set within this one.
func TestSSLCertFile(t *testing.T) {
	_, r := testenv.RequireTLSRegistries(t)
	if os.Getenv("SKIFF_OCI_SSL_CHILD") != "" {
		c := testClient(Options{CertsDir: t.TempDir(), Keychain: CIKeychain(gitlabEnv(r.Basic, r.User, r.Password, ""))})
		img, _ := random.Image(64, 1)
		ref, err := c.ParseReference(r.Repo(t, r.Basic, "app") + ":v1")
		if err == nil {
			_, err = c.Push(t.Context(), ref, img)
		}
		if err != nil {
			t.Fatalf("push with SSL_CERT_FILE=%s: %v", os.Getenv("SSL_CERT_FILE"), err)
		}
		return
	}
	for _, tc := range []struct {
		file string
		ok   bool
	}{{r.CA, true}, {"/dev/null", false}} {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSSLCertFile$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SKIFF_OCI_SSL_CHILD=1", "SSL_CERT_FILE="+tc.file, "SSL_CERT_DIR=/nonexistent")
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok {
			t.Errorf("SSL_CERT_FILE=%s: child err %v, want ok=%v; output:\n%s", tc.file, err, tc.ok, out)
		}
		if !tc.ok && !strings.Contains(string(out), "TLS certificate not trusted") {
			t.Errorf("SSL_CERT_FILE=%s: child did not say the certificate is not trusted:\n%s", tc.file, out)
		}
	}
}

// TestLogin logs in to the basic and token registries into a fresh Docker
// configuration, then pushes with the Docker keychain alone.
func TestLogin(t *testing.T) {
	_, r := testenv.RequireTLSRegistries(t)
	for _, registry := range []string{r.Basic, r.Token} {
		t.Run(registry, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("DOCKER_CONFIG", dir)
			c := New(Options{RegistryCAs: map[string][]string{registry: {r.CA}}, CertsDir: t.TempDir()})
			_, err := c.Login(t.Context(), registry, r.User, "wrong-"+r.Password, dir)
			var refused *LoginRefusedError
			if !errors.As(err, &refused) && !strings.Contains(fmt.Sprint(err), "401") {
				t.Fatalf("login with a wrong password: want a refusal, got %v", err)
			}
			if strings.Contains(err.Error(), r.Password) {
				t.Errorf("error shows the password: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
				t.Fatal("a failed login wrote config.json")
			}
			res, err := c.Login(t.Context(), registry, r.User, r.Password, dir)
			if err != nil {
				t.Fatal(err)
			}
			if res.File != filepath.Join(dir, "config.json") || res.Helper != "" {
				t.Errorf("login wrote %+v, want %s without a helper", res, filepath.Join(dir, "config.json"))
			}
			data, err := os.ReadFile(res.File)
			if err != nil || !strings.Contains(string(data), `"`+registry+`"`) {
				t.Errorf("config.json has no entry for %s: %s %v", registry, data, err)
			}
			c = New(Options{RegistryCAs: map[string][]string{registry: {r.CA}}, CertsDir: t.TempDir(), Keychain: authn.DefaultKeychain})
			img, _ := random.Image(64, 1)
			ref, err := c.ParseReference(r.Repo(t, registry, "app") + ":v1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Push(t.Context(), ref, img); err != nil {
				t.Fatalf("push with the stored credentials: %v", err)
			}
		})
	}
}
