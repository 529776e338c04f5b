package cli

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// tlsProject is a project whose images and releases live in registry.
func tlsProject(t *testing.T, registry, repo string) string {
	t.Helper()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), `apiVersion: skiff/v1
kind: Config
metadata: {name: tlsapp}
build:
  artifacts:
    - image: `+repo+`/app
      context: app
      docker:
        buildArgs: {BASE: `+repo+`/base:1}
test:
  - image: `+repo+`/app
    structureTests: [structure.yaml]
manifests:
  rawYaml: [k8s/*.yaml]
environments:
  - name: staging
release:
  repository: `+repo+`/releases
`)
	mustWrite(t, filepath.Join(dir, "app", "Dockerfile"), "ARG BASE\nFROM $BASE\nCOPY hello.txt /\n")
	mustWrite(t, filepath.Join(dir, "app", "hello.txt"), "hello\n")
	mustWrite(t, filepath.Join(dir, "structure.yaml"), "schemaVersion: 2.0.0\nfileExistenceTests:\n- {name: hello, path: /hello.txt}\n- {name: motd, path: /etc/motd}\n")
	mustWrite(t, filepath.Join(dir, "k8s", "pod.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: app}\nspec:\n  containers:\n  - {name: app, image: "+repo+"/app}\n")
	mustWrite(t, filepath.Join(dir, "rootfs", "etc", "motd"), "imported\n")
	return dir
}

// skiffWithEnv runs skiff (this test binary acting as skiff) in dir with
// env added to a clean environment: PATH and HOME only, so that no CI
// variable of the machine leaks in.
func skiffWithEnv(t *testing.T, dir string, env []string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append([]string{beSkiff + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DOCKER_CONFIG=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// certsD makes a Docker certs.d directory holding ca.crt for host.
func certsD(t *testing.T, host, ca string) string {
	t.Helper()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, host, "ca.crt"), readFile(t, ca))
	return dir
}

// TestTLSRegistriesEveryVerb runs every command that talks to a registry
// — image import, build (pulling its base from the registry, pushing, the
// registry layer cache), test (pulling the image), render's digest
// resolution, release create and show — against the sandbox's TLS
// registries with basic and token auth, the CA given each supported way and
// the credentials a GitLab job has; then without the CA, where each
// refuses with one line naming the registry and what to do. No password
// appears on stdout, stderr, or in any file the commands wrote.
func TestTLSRegistriesEveryVerb(t *testing.T) {
	_, r := testenv.RequireTLSRegistries(t)
	if os.Geteuid() != 0 {
		t.Fatal("skiff build needs root")
	}
	type variant struct {
		name, registry string
		caArgs         []string // global flags
		env            []string
	}
	gitlab := func(registry, user, pw, token string) []string {
		return []string{"GITLAB_CI=true", "CI_REGISTRY=" + registry, "CI_REGISTRY_USER=" + user, "CI_REGISTRY_PASSWORD=" + pw, "CI_JOB_TOKEN=" + token}
	}
	variants := []variant{
		{name: "basic auth, --registry-ca", registry: r.Basic, caArgs: []string{"--registry-ca", r.Basic + "=" + r.CA},
			env: gitlab(r.Basic, r.User, r.Password, "")},
		{name: "token auth, certs.d, CI_JOB_TOKEN", registry: r.Token,
			env: append(gitlab(r.Token, "", "", r.JobToken), CertsDirEnv+"="+certsD(t, r.Token, r.CA))},
		{name: "token auth, SSL_CERT_FILE", registry: r.Token,
			env: append(gitlab(r.Token, r.User, r.Password, ""), "SSL_CERT_FILE="+r.CA, "SSL_CERT_DIR=/nonexistent")},
	}
	secrets := []string{r.Password, r.JobToken}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			repo := r.Repo(t, v.registry, "p")
			dir := tlsProject(t, v.registry, repo)
			app := repo + "/app"
			commands := []struct {
				name string
				args []string
				want func(stdout, stderr string) bool
			}{
				{"image import", []string{"image", "import", "rootfs", repo + "/base:1"}, nil},
				{"build", []string{"build", "-t", "v1", "--cache-dir", t.TempDir(), "--file-output", "build.json"}, nil},
				{"build from the registry cache", []string{"build", "-t", "v2", "--cache-dir", t.TempDir(), "--file-output", "build2.json"},
					func(_, stderr string) bool { return strings.Contains(stderr, "1 cached") }},
				{"test", []string{"test", "-a", "build.json"}, nil},
				{"render --digest-source remote", []string{"render", "--offline", "--digest-source", "remote", "-i", app + "=" + app + ":v1"},
					func(stdout, _ string) bool { return strings.Contains(stdout, "image: "+app+":v1@sha256:") }},
				{"release create", []string{"release", "create", "--tag", "v1", "-a", "build.json", "--dotenv", "release.env"},
					func(stdout, _ string) bool {
						return strings.HasPrefix(stdout, repo+"/releases@sha256:") &&
							readFile(t, filepath.Join(dir, "release.env")) == "SKIFF_RELEASE="+stdout
					}},
				{"release show", []string{"release", "show", "v1"},
					func(stdout, _ string) bool { return strings.Contains(stdout, app+":v1@sha256:") }},
			}
			for _, c := range commands {
				stdout, stderr, err := skiffWithEnv(t, dir, v.env, "", append(slicesClone(v.caArgs), c.args...)...)
				if err != nil {
					t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", c.name, err, stdout, stderr)
				}
				if c.want != nil && !c.want(stdout, stderr) {
					t.Errorf("%s: unexpected output\nstdout: %s\nstderr: %s", c.name, stdout, stderr)
				}
				assertNoSecret(t, c.name+" output", stdout+stderr, secrets)
			}
			assertNoSecretInTree(t, dir, secrets)
			assertNoSecretInRelease(t, r, repo+"/releases:v1", secrets)

			// Without the CA: the same commands refuse, in one line.
			env := slicesClone(v.env)
			for i, e := range env {
				if strings.HasPrefix(e, "SSL_CERT_FILE=") || strings.HasPrefix(e, CertsDirEnv+"=") {
					env[i] = CertsDirEnv + "=" + t.TempDir()
				}
			}
			for _, c := range commands[1:] {
				if c.name == "build from the registry cache" {
					continue
				}
				_, stderr, err := skiffWithEnv(t, dir, env, "", c.args...)
				// The error is the one "skiff: " line (progress lines come before it).
				var errLines []string
				for l := range strings.Lines(stderr) {
					if strings.HasPrefix(l, "skiff: ") {
						errLines = append(errLines, l)
					}
				}
				if err == nil || len(errLines) != 1 || !strings.Contains(errLines[0], "registry "+v.registry+": TLS certificate not trusted") || !strings.Contains(errLines[0], "--registry-ca "+v.registry+"=FILE") {
					t.Errorf("%s without the CA: %v, stderr %q; want one error line naming %s and --registry-ca", c.name, err, stderr, v.registry)
				}
			}
		})
	}
}

// TestLoginCommand logs in with skiff login and then pushes with the
// stored credentials alone (no CI variables).
func TestLoginCommand(t *testing.T) {
	_, r := testenv.RequireTLSRegistries(t)
	dir := t.TempDir()
	cfg := t.TempDir()
	ca := []string{"--registry-ca", r.Token + "=" + r.CA}
	env := []string{"DOCKER_CONFIG=" + cfg}
	mustWrite(t, filepath.Join(dir, "rootfs", "etc", "motd"), "imported\n")
	_, stderr, err := skiffWithEnv(t, dir, env, "wrong\n", append(ca, "login", r.Token, "-u", r.User, "--password-stdin")...)
	if err == nil || !strings.Contains(stderr, r.Token) {
		t.Errorf("login with a wrong password: %v, stderr %q", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(cfg, "config.json")); err == nil {
		t.Error("a failed login wrote config.json")
	}
	_, stderr, err = skiffWithEnv(t, dir, env, "", append(ca, "login", r.Token, "-u", r.User)...)
	if err == nil || !strings.Contains(stderr, "--password-stdin") {
		t.Errorf("login without --password-stdin: %v, stderr %q", err, stderr)
	}
	stdout, stderr, err := skiffWithEnv(t, dir, env, r.Password+"\n", append(ca, "login", r.Token, "-u", r.User, "--password-stdin")...)
	if err != nil || !strings.Contains(stdout, "Login Succeeded") {
		t.Fatalf("login: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	assertNoSecret(t, "login output", stdout+stderr, []string{r.Password})
	ref := r.Repo(t, r.Token, "imported") + ":1"
	if stdout, stderr, err := skiffWithEnv(t, dir, env, "", append(ca, "image", "import", "rootfs", ref)...); err != nil {
		t.Fatalf("image import with the stored credentials: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func assertNoSecret(t *testing.T, what, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s holds a credential", what)
		}
	}
}

// assertNoSecretInTree checks every file under dir (artifacts files,
// .skiff state, dotenv reports).
func assertNoSecretInTree(t *testing.T, dir string, secrets []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		assertNoSecret(t, path, string(data), secrets)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// assertNoSecretInRelease reads every blob of the release artifact ref.
func assertNoSecretInRelease(t *testing.T, r *testenv.TLSRegistries, ref string, secrets []string) {
	t.Helper()
	c := oci.New(oci.Options{RegistryCAs: map[string][]string{refRegistry(ref): {r.CA}}, Keychain: oci.CIKeychain(func(k string) string {
		return map[string]string{"GITLAB_CI": "true", "CI_REGISTRY": refRegistry(ref), "CI_JOB_TOKEN": r.JobToken}[k]
	})})
	parsed, err := c.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.Image(context.Background(), parsed)
	if err != nil {
		t.Fatal(err)
	}
	manifest, _ := img.RawManifest()
	config, _ := img.RawConfigFile()
	assertNoSecret(t, "release manifest", string(manifest)+string(config), secrets)
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("release %s: %d layers, %v", ref, len(layers), err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, "release layer "+string(rune('0'+i)), string(data), secrets)
	}
}

func refRegistry(ref string) string { h, _, _ := strings.Cut(ref, "/"); return h }
