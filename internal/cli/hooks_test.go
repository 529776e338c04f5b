package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRenderHooks: render runs manifests.hooks around rendering, and a
// failing before hook stops it with the hook's output and nothing on
// stdout.
func TestRenderHooks(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	t.Setenv("HOOKS_OUT", out)
	mustWrite(t, filepath.Join(dir, "skaffold.yaml"), `apiVersion: skaffold/v4beta13
kind: Config
manifests:
  rawYaml: [k8s/*.yaml]
  hooks:
    before:
      - host:
          command: ["sh", "-c", "mkdir -p $HOOKS_OUT; env | grep ^SKAFFOLD_ | sort > $HOOKS_OUT/pre-render.env"]
    after:
      - host:
          command: ["sh", "-c", "echo rendered > $HOOKS_OUT/post-render"]
`)
	mustWrite(t, filepath.Join(dir, "k8s", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop}\n")
	stdout, stderr, code := run(t, dir, "render", "--offline", "-n", "shop", "--kube-context", "nowhere")
	if code != 0 || !strings.Contains(stdout, "name: shop") {
		t.Fatalf("render: exit %d\n%s\n%s", code, stdout, stderr)
	}
	env := readFile(t, filepath.Join(out, "pre-render.env"))
	for _, want := range []string{"SKAFFOLD_KUBE_CONTEXT=nowhere\n", "SKAFFOLD_NAMESPACES=shop\n", "SKAFFOLD_WORK_DIR=" + dir + "\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("pre-render environment lacks %q:\n%s", want, env)
		}
	}
	if readFile(t, filepath.Join(out, "post-render")) != "rendered\n" {
		t.Errorf("post-render hook did not run")
	}

	mustWrite(t, filepath.Join(dir, "skaffold.yaml"), `apiVersion: skaffold/v4beta13
kind: Config
manifests:
  rawYaml: [k8s/*.yaml]
  hooks:
    before:
      - host:
          command: ["sh", "-c", "echo lint: k8s/cm.yaml has no labels >&2; exit 2"]
`)
	stdout, stderr, code = run(t, dir, "render", "--offline")
	want := `skaffold.yaml:7:9: manifests.hooks.before[0]: pre-render hook failed: "sh -c echo lint: k8s/cm.yaml has no labels >&2; exit 2" failed: exit status 2; output: lint: k8s/cm.yaml has no labels`
	if code == 0 || stdout != "" || !strings.Contains(stderr, want) {
		t.Errorf("failing pre-render hook: exit %d, stdout %q, stderr:\n%s\nwant it to contain:\n%s", code, stdout, stderr, want)
	}
}

// TestRunHooks runs skiff run on the sandbox with hooks in every phase and
// checks their order and Skaffold's variables; then a failing pre-deploy
// hook stops deploy before anything is applied.
func TestRunHooks(t *testing.T) {
	e, client := onSandbox(t)
	dir, app := envProject(t, "")
	cleanupNamespaces(t, client, app)
	ns := e.Namespace(t, "hooks")
	repo := e.Registry() + "/" + app
	t.Setenv("SKAFFOLD_DEFAULT_REPO", repo)
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOKS_OUT", out)
	record := func(phase string) string {
		return `["sh", "-c", "echo ` + phase + ` >> $HOOKS_OUT/order; env | grep ^SKAFFOLD_ | sort > $HOOKS_OUT/` + phase + `.env"]`
	}
	os.Remove(filepath.Join(dir, "skiff.yaml"))
	mustWrite(t, filepath.Join(dir, "skaffold.yaml"), `apiVersion: skaffold/v4beta13
kind: Config
metadata: {name: `+app+`}
build:
  artifacts:
    - image: web
      docker:
        buildArgs: {BASE: `+e.BaseImage()+`}
      hooks:
        before: [{command: `+record("pre-build")+`}]
        after: [{command: `+record("post-build")+`}]
manifests:
  rawYaml: [k8s/*.yaml]
  hooks:
    before: [{host: {command: `+record("pre-render")+`}}]
    after: [{host: {command: `+record("post-render")+`}}]
deploy:
  kubectl:
    hooks:
      before: [{host: {command: `+record("pre-deploy")+`}}]
      after:
        - host: {command: `+record("post-deploy")+`}
        - host: {command: ["sh", "-c", "echo windows >> $HOOKS_OUT/order"], os: [windows]}
`)
	mustWrite(t, filepath.Join(dir, "Dockerfile"), "ARG BASE\nFROM $BASE\nCMD [\"sh\"]\n")
	mustWrite(t, filepath.Join(dir, "k8s", "app.yaml"), strings.Replace(readFile(t, filepath.Join(dir, "k8s", "app.yaml")), `image: "busybox:1.36"`, "image: web", 1))

	mustRun(t, dir, "run", "-n", ns, "--skip-tests")
	if got, want := readFile(t, filepath.Join(out, "order")), "pre-build\npost-build\npre-render\npost-render\npre-deploy\npost-deploy\n"; got != want {
		t.Errorf("hooks ran as\n%s\nwant\n%s", got, want)
	}
	build := readFile(t, filepath.Join(out, "pre-build.env"))
	for _, want := range []string{"SKAFFOLD_IMAGE=" + repo + "/web:", "SKAFFOLD_IMAGE_REPO=" + repo + "/web\n", "SKAFFOLD_IMAGE_TAG=", "SKAFFOLD_PUSH_IMAGE=true\n", "SKAFFOLD_BUILD_CONTEXT=" + dir + "\n", "SKAFFOLD_DEFAULT_REPO=" + repo + "\n"} {
		if !strings.Contains(build, want) {
			t.Errorf("pre-build environment lacks %q:\n%s", want, build)
		}
	}
	deploy := readFile(t, filepath.Join(out, "post-deploy.env"))
	for _, want := range []string{"SKAFFOLD_NAMESPACES=" + ns + "\n", "SKAFFOLD_KUBE_CONTEXT=", "SKAFFOLD_RUN_ID="} {
		if !strings.Contains(deploy, want) {
			t.Errorf("post-deploy environment lacks %q:\n%s", want, deploy)
		}
	}
	if strings.Contains(deploy, "SKAFFOLD_RUN_ID=\n") {
		t.Errorf("empty SKAFFOLD_RUN_ID:\n%s", deploy)
	}

	// A failing pre-deploy hook: nothing is applied in a fresh namespace.
	ns2 := e.Namespace(t, "hooks-fail")
	cfg := readFile(t, filepath.Join(dir, "skaffold.yaml"))
	cfg = strings.Replace(cfg, "before: [{host: {command: "+record("pre-deploy")+"}}]", `before: [{host: {command: ["sh", "-c", "echo database unreachable >&2; exit 3"]}}]`, 1)
	mustWrite(t, filepath.Join(dir, "skaffold.yaml"), cfg)
	_, stderr, code := run(t, dir, "deploy", "-n", ns2, "--digest-source=none")
	if code == 0 || !strings.Contains(stderr, "deploy.kubectl.hooks.before[0]: pre-deploy hook failed") || !strings.Contains(stderr, "output: database unreachable") {
		t.Errorf("deploy with a failing pre-deploy hook: exit %d\n%s", code, stderr)
	}
	if _, err := client.CoreV1().ConfigMaps(ns2).Get(context.Background(), "settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ConfigMap was applied although the pre-deploy hook failed: %v", err)
	}
}
