package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const renderDigest = "sha256:4444444444444444444444444444444444444444444444444444444444444444"

// renderProject writes a Skaffold project with a production profile that
// switches kustomize overlays, and the artifacts file of its build.
func renderProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"skaffold.yaml": `apiVersion: skaffold/v4beta11
kind: Config
metadata:
  name: myapp
build:
  artifacts:
  - image: myapp
manifests:
  kustomize:
    paths: [k8s/overlays/development]
profiles:
- name: production
  manifests:
    kustomize:
      paths: [k8s/overlays/production]
`,
		"k8s/base/kustomization.yaml": "resources: [deployment.yaml]\n",
		"k8s/base/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: myapp
spec:
  selector: {matchLabels: {app: myapp}}
  template:
    metadata: {labels: {app: myapp}}
    spec:
      containers:
      - name: myapp
        image: myapp
`,
		"k8s/overlays/development/kustomization.yaml": "resources: [../../base]\nnamePrefix: dev-\n",
		"k8s/overlays/production/kustomization.yaml":  "resources: [../../base, widget.yaml]\nreplicas: [{name: myapp, count: 3}]\n",
		"k8s/overlays/production/widget.yaml":         "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
		"pipeline-artifacts.json":                     `{"builds":[{"imageName":"myapp","tag":"localhost:5000/myapp:1.0.0@` + renderDigest + `"}]}` + "\n",
	}
	for name, content := range files {
		mustWrite(t, filepath.Join(dir, name), content)
	}
	return dir
}

func runWithStdin(t *testing.T, dir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

// TestRenderSeedWorkflowShape runs the exact command of the seed workflow.
func TestRenderSeedWorkflowShape(t *testing.T) {
	dir := renderProject(t)
	t.Setenv("KUBECONFIG", filepath.Join(dir, "no-kubeconfig"))
	stdout, stderr, code := run(t, dir, "render", "-p", "production", "-n", "myapp", "-a", "pipeline-artifacts.json", "-o", "myapp-1.0.0-production.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing (the manifests go to -o)", stdout)
	}
	data, err := os.ReadFile(filepath.Join(dir, "myapp-1.0.0-production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{
		"image: localhost:5000/myapp:1.0.0@" + renderDigest,
		"name: myapp\n  namespace: myapp",
		"replicas: 3",
		"kind: Widget",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(stderr, "kind Widget.example.com is neither built in nor defined by a CRD") {
		t.Errorf("stderr = %q, want a warning about the unknown kind", stderr)
	}

	// The same inputs give the same bytes, also through stdout and -a -.
	artifacts, _ := os.ReadFile(filepath.Join(dir, "pipeline-artifacts.json"))
	again, stderr, code := runWithStdin(t, dir, string(artifacts), "render", "-p", "production", "-n", "myapp", "-a", "-", "--offline")
	if code != 0 || again != got {
		t.Errorf("render to stdout with -a - differs (exit %d, %s):\n%s", code, stderr, again)
	}
}

func TestRenderFlags(t *testing.T) {
	dir := renderProject(t)
	stdout, stderr, code := run(t, dir, "render", "--offline", "-i", "myapp=registry.test/myapp:2.0", "-l", "team=shop", "-l", "tier=web")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"name: dev-myapp", "image: registry.test/myapp:2.0", "team: shop", "tier: web"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Count(stdout, "team: shop") != 1 {
		t.Errorf("label must be on the Deployment only, not its pod template:\n%s", stdout)
	}
	stdout, _, code = run(t, dir, "render", "--offline", "--digest-source=none")
	if code != 0 || !strings.Contains(stdout, "image: myapp\n") {
		t.Errorf("--digest-source=none: exit %d, output:\n%s", code, stdout)
	}
}

func TestRenderBadInputsAreOneLine(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string)
		args  []string
		code  int
		want  string
	}{
		{"artifacts file is not JSON", func(dir string) {
			mustWrite(t, filepath.Join(dir, "bad.json"), "{\"builds\": [\n  {\"imageName\": \"myapp\",}\n]}\n")
		}, []string{"render", "-a", "bad.json"}, ExitError, "artifacts file bad.json:2: invalid character '}'"},
		{"artifacts file lacks the image", func(dir string) {
			mustWrite(t, filepath.Join(dir, "other.json"), `{"builds":[{"imageName":"other","tag":"r/other:1"}]}`)
		}, []string{"render", "-a", "other.json"}, ExitError, "no build for image myapp (Deployment.apps dev-myapp, container myapp), which this project builds"},
		{"no artifacts at all", nil, []string{"render"}, ExitError, "no build for image myapp"},
		{"missing artifacts file", nil, []string{"render", "-a", "nope.json"}, ExitError, "opening artifacts file: open nope.json: no such file or directory"},
		{"malformed manifest", func(dir string) {
			mustWrite(t, filepath.Join(dir, "k8s/base/deployment.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: [x\n")
		}, []string{"render", "-a", "pipeline-artifacts.json"}, ExitError, "kustomize k8s/overlays/development:"},
		{"missing kustomization path", func(dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "k8s/overlays/development")); err != nil {
				t.Fatal(err)
			}
		}, []string{"render", "-a", "pipeline-artifacts.json"}, ExitError, "kustomize k8s/overlays/development: no such directory"},
		{"bad label", nil, []string{"render", "-a", "pipeline-artifacts.json", "-l", "novalue"}, ExitUsage, `--label "novalue": use KEY=VALUE`},
		{"invalid label", nil, []string{"render", "-a", "pipeline-artifacts.json", "-l", "a b=c"}, ExitError, `label "a b": invalid key`},
		{"digest source local", nil, []string{"render", "--digest-source=local"}, ExitUsage, "--digest-source=local builds images"},
		{"bad image flag", nil, []string{"render", "-i", "myapp="}, ExitUsage, `--images "myapp=": image myapp: tag is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := renderProject(t)
			if tt.setup != nil {
				tt.setup(dir)
			}
			args := append(tt.args, "--offline", "-o", "out.yaml")
			_, stderr, code := run(t, dir, args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q\nwant it to contain %q", stderr, tt.want)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("error output is not one line: %q", stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "out.yaml")); err == nil {
				t.Error("a failed render left out.yaml behind")
			}
		})
	}
}
