package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/testenv"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runStdin executes skiff in dir with stdin and returns stdout, stderr and
// the exit code.
func runStdin(t *testing.T, dir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

const cliManifests = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: blue}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: "registry.example/web:1.0"}]
`

// TestApplyCommandShapes runs the command lines the seed workflow uses:
// a profile, a namespace, an explicit status check and a hydrated file; and
// manifests on stdin. Then delete removes what they applied.
func TestApplyCommandShapes(t *testing.T) {
	env := testenv.Require(t)
	ns := env.Namespace(t, "cli-apply") + "-myapp" // does not exist: -n creates it
	t.Cleanup(func() {
		_ = env.Clientset(t).CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	dir := t.TempDir()
	write(t, dir, "skaffold.yaml", `apiVersion: skaffold/v4beta11
kind: Config
metadata: {name: myapp}
manifests:
  rawYaml: [k8s/*.yaml]
deploy:
  kubectl: {}
profiles:
- name: production
  deploy:
    statusCheckDeadlineSeconds: 120
`)
	write(t, dir, "myapp-1.0.0-production.yaml", cliManifests)
	kc := "--kubeconfig=" + env.Kubeconfig()

	out, stderr, code := runStdin(t, dir, "", kc, "apply", "-p", "production", "-n", ns, "--status-check=true", "myapp-1.0.0-production.yaml")
	if code != 0 {
		t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, want := range []string{"ConfigMap " + ns + "/settings created", "Deployment.apps " + ns + "/web created", "myapp revision 1 in namespace " + ns + ": 2 created"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "Current") || !strings.Contains(stderr, "Deployment.apps "+ns+"/web") {
		t.Errorf("stderr shows no status progress:\n%s", stderr)
	}

	out, stderr, code = runStdin(t, dir, cliManifests, kc, "apply", "-n", ns, "-o", "json", "-")
	if code != 0 || !strings.Contains(out, `"action": "unchanged"`) || !strings.Contains(out, `"revision": 1`) {
		t.Errorf("apply - : exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}

	out, stderr, code = runStdin(t, dir, "", kc, "delete", "-n", ns, "--wait")
	if code != 0 || !strings.Contains(out, "Deployment.apps "+ns+"/web deleted") {
		t.Errorf("delete: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	cm, err := env.Clientset(t).CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(cm.Items) != 1 { // kube-root-ca.crt
		t.Errorf("ConfigMaps left after delete: %v %v", cm, err)
	}
}

func TestApplyBadInputIsOneLineAndChangesNothing(t *testing.T) {
	env := testenv.Require(t)
	ns := env.Namespace(t, "cli-bad") + "-new"
	t.Cleanup(func() {
		_ = env.Clientset(t).CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	dir := t.TempDir()
	kc := "--kubeconfig=" + env.Kubeconfig()
	tests := []struct {
		name, stdin, want string
	}{
		{"malformed YAML", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n data: x\n", "malformed YAML"},
		{"unknown kind", cliManifests + "---\napiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n", "unknown kind"},
		{"empty", "# nothing\n", "no objects to apply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runStdin(t, dir, tt.stdin, kc, "apply", "-n", ns, "-")
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if code != ExitError || !strings.HasPrefix(last, "skiff: ") || (tt.name == "malformed YAML" && !strings.HasPrefix(last, "skiff: <stdin>:")) || !strings.Contains(last, tt.want) {
				t.Errorf("exit %d, last stderr line %q; want exit 1 and one line with %q", code, last, tt.want)
			}
			if _, err := env.Clientset(t).CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("namespace %s was created: %v", ns, err)
			}
		})
	}
}

func TestApplyFlagsAreChecked(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := runStdin(t, dir, "", "apply", "--on-failure=explode", "-")
	if code != ExitUsage || !strings.Contains(stderr, "--on-failure") {
		t.Errorf("exit %d, stderr %q; want a usage error about --on-failure", code, stderr)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDeployRendersThenApplies(t *testing.T) {
	env := testenv.Require(t)
	ns := env.Namespace(t, "cli-deploy")
	dir := t.TempDir()
	write(t, dir, "skaffold.yaml", `apiVersion: skaffold/v4beta11
kind: Config
metadata: {name: shop}
build:
  artifacts:
  - image: web
manifests:
  rawYaml: [k8s/*.yaml]
deploy:
  kubectl: {}
  statusCheckDeadlineSeconds: 120
`)
	if err := os.Mkdir(filepath.Join(dir, "k8s"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "k8s/web.yaml", strings.Replace(cliManifests, `"registry.example/web:1.0"`, "web", 1))
	pinned := "registry.example/web:2.0@sha256:" + strings.Repeat("ab", 32)
	out, stderr, code := runStdin(t, dir, "", "--kubeconfig="+env.Kubeconfig(), "deploy", "-n", ns, "-i", "web="+pinned)
	if code != 0 {
		t.Fatalf("deploy: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "shop revision 1 in namespace "+ns+": 2 created") {
		t.Errorf("stdout:\n%s", out)
	}
	d, err := env.Clientset(t).AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != pinned {
		t.Errorf("image = %s, want %s", img, pinned)
	}
}
