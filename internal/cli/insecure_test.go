package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/oci/ocitest"
)

// insecureRegistry is a registry name that is not loopback: skiff reaches
// it over plain HTTP only when the configuration (or --insecure-registry)
// lists it. The tests reach it through an HTTP proxy on loopback (the
// in-process registry itself, which serves proxied requests), so nothing
// is looked up or sent outside the machine.
const insecureRegistry = "registry.insecure.test:5000"

// insecureProject is a project whose images, chart and releases live in
// insecureRegistry; listed says whether build.insecureRegistries names it.
func insecureProject(t *testing.T, listed bool) string {
	t.Helper()
	dir := t.TempDir()
	insecure := ""
	if listed {
		insecure = "  insecureRegistries: [" + insecureRegistry + "]\n"
	}
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), `apiVersion: skiff/v1
kind: Config
metadata: {name: insecure}
build:
`+insecure+`  artifacts:
    - image: `+insecureRegistry+`/app
      context: app
test:
  - image: `+insecureRegistry+`/app
    structureTests: [structure.yaml]
manifests:
  rawYaml: [k8s/*.yaml]
  helm:
    releases:
      - name: web
        remoteChart: oci://`+insecureRegistry+`/charts/web
        version: 0.3.0
environments:
  - name: staging
release:
  repository: `+insecureRegistry+`/insecure/releases
`)
	mustWrite(t, filepath.Join(dir, "app", "Dockerfile"), "FROM scratch\nCOPY hello.txt /\n")
	mustWrite(t, filepath.Join(dir, "app", "hello.txt"), "hello\n")
	mustWrite(t, filepath.Join(dir, "structure.yaml"), "schemaVersion: 2.0.0\nfileExistenceTests:\n- {name: hello, path: /hello.txt}\n")
	mustWrite(t, filepath.Join(dir, "k8s", "pod.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: app}\nspec:\n  containers:\n  - {name: app, image: "+insecureRegistry+"/app}\n")
	mustWrite(t, filepath.Join(dir, "rootfs", "etc", "motd"), "imported\n")
	return dir
}

// skiffThroughProxy runs skiff (this test binary acting as skiff) in dir
// with every registry request going through proxy.
func skiffThroughProxy(t *testing.T, dir, proxy string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), beSkiff+"=1", "HTTP_PROXY="+proxy, "HTTPS_PROXY="+proxy, "NO_PROXY=", "http_proxy=", "https_proxy=", "no_proxy=",
		"DOCKER_CONFIG="+t.TempDir())
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// TestInsecureRegistriesFromTheConfiguration: the insecureRegistries of the
// configuration hold for every command that talks to a registry — build
// (push and layer cache), test (pulling the image), image import, render's
// digest resolution and Helm OCI chart, release create — and without them
// each refuses plain HTTP to a registry that is not loopback.
func TestInsecureRegistriesFromTheConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	if os.Geteuid() != 0 {
		t.Fatal("skiff build needs root")
	}
	reg := ocitest.New(t, false)
	reg.Push(t, "charts/web:0.3.0", ocitest.HelmChart(t, "../render/testdata/charts/web"))
	proxy := reg.Server.URL
	app := insecureRegistry + "/app"
	commands := []struct {
		name string
		args []string
	}{
		{"build", []string{"build", "-q", "-t", "v1", "--cache-dir", t.TempDir(), "--file-output", "build.json"}},
		{"test", []string{"test", "-a", "build.json"}},
		{"image import", []string{"image", "import", "rootfs", insecureRegistry + "/imported:1"}},
		{"render (digest and chart)", []string{"render", "--offline", "--digest-source", "remote", "-i", app + "=" + app + ":v1"}},
		{"release create", []string{"release", "create", "--tag", "v1", "-a", "build.json"}},
	}

	listed := insecureProject(t, true)
	for _, c := range commands {
		before := reg.PlainRequests(insecureRegistry)
		stdout, stderr, err := skiffThroughProxy(t, listed, proxy, c.args...)
		if err != nil {
			t.Fatalf("%s with the registry listed: %v\nstdout: %s\nstderr: %s", c.name, err, stdout, stderr)
		}
		if reg.PlainRequests(insecureRegistry) == before {
			t.Errorf("%s with the registry listed sent it no plain-HTTP request", c.name)
		}
		switch c.name {
		case "render (digest and chart)":
			if !strings.Contains(stdout, "image: "+app+":v1@sha256:") || !strings.Contains(stdout, "kind: Widget") {
				t.Errorf("render: image not pinned or chart not rendered:\n%s", stdout)
			}
		case "release create":
			if !strings.HasPrefix(stdout, insecureRegistry+"/insecure/releases@sha256:") {
				t.Errorf("release create printed %q", stdout)
			}
		}
	}

	unlisted := insecureProject(t, false)
	mustWrite(t, filepath.Join(unlisted, "build.json"), readFile(t, filepath.Join(listed, "build.json")))
	for _, c := range commands {
		before := reg.PlainRequests(insecureRegistry)
		_, stderr, err := skiffThroughProxy(t, unlisted, proxy, c.args...)
		if err == nil || !strings.Contains(stderr, insecureRegistry) {
			t.Errorf("%s without the registry listed: %v, stderr %q; want a failure naming %s", c.name, err, stderr, insecureRegistry)
		}
		if n := reg.PlainRequests(insecureRegistry) - before; n != 0 {
			t.Errorf("%s without the registry listed sent it %d plain-HTTP requests", c.name, n)
		}
	}
}
