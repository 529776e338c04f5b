package hooks

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/config"
)

// loadConfig loads a one-document project from yaml, for hooks with
// positions.
func loadConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "skaffold.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := config.Load(config.LoadOptions{WorkDir: dir, Activation: config.ActivationContext{Env: map[string]string{}}})
	if err != nil {
		t.Fatal(err)
	}
	return p.Configs[0]
}

func TestBuildHooksEnvironmentAndOrder(t *testing.T) {
	out := t.TempDir()
	t.Setenv("HOOKS_OUT", out)
	c := loadConfig(t, `apiVersion: skaffold/v4beta13
kind: Config
build:
  artifacts:
    - image: web
      hooks:
        before:
          - command: ["sh", "-c", "env | grep ^SKAFFOLD_ | sort > $HOOKS_OUT/before.env; echo before >> $HOOKS_OUT/order"]
          - command: ["sh", "-c", "echo never >> $HOOKS_OUT/order"]
            os: [windows, darwin]
          - command: ["sh", "-c", "pwd > $HOOKS_OUT/dir"]
            dir: /tmp
        after:
          - command: ["sh", "-c", "echo after >> $HOOKS_OUT/order; echo hook says hello"]
`)
	var log bytes.Buffer
	r := &Runner{Out: &log, Static: Static{DefaultRepo: "reg.example/team", WorkDir: "/work", Extra: map[string]string{"FROM_ENV_FILE": "yes"}}}
	env := BuildEnv{Image: "reg.example/team/web:v1", PushImage: true, ImageRepo: "reg.example/team/web", ImageTag: "v1", BuildContext: "/src/web"}
	h := c.Build.Artifacts[0].LifecycleHooks
	ctx := context.Background()
	if err := r.Build(ctx, c, "build.artifacts[0].hooks", h, PreBuild, env); err != nil {
		t.Fatal(err)
	}
	if err := r.Build(ctx, c, "build.artifacts[0].hooks", h, PostBuild, env); err != nil {
		t.Fatal(err)
	}
	want := "SKAFFOLD_BUILD_CONTEXT=/src/web\nSKAFFOLD_DEFAULT_REPO=reg.example/team\nSKAFFOLD_IMAGE=reg.example/team/web:v1\n" +
		"SKAFFOLD_IMAGE_REPO=reg.example/team/web\nSKAFFOLD_IMAGE_TAG=v1\nSKAFFOLD_PUSH_IMAGE=true\nSKAFFOLD_WORK_DIR=/work\n"
	if got := read(t, out, "before.env"); got != want {
		t.Errorf("build hook environment:\n%s\nwant:\n%s", got, want)
	}
	if got := read(t, out, "order"); got != "before\nafter\n" {
		t.Errorf("hooks ran in order %q; the os-restricted one must be skipped", got)
	}
	if got := read(t, out, "dir"); got != "/tmp\n" {
		t.Errorf("hook with dir /tmp ran in %q", got)
	}
	for _, w := range []string{"Starting pre-build hooks...", "Completed post-build hooks", "hook says hello"} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("hook output lacks %q:\n%s", w, log.String())
		}
	}
}

func TestFailingHookStopsWithItsOutput(t *testing.T) {
	out := t.TempDir()
	t.Setenv("HOOKS_OUT", out)
	c := loadConfig(t, `apiVersion: skaffold/v4beta13
kind: Config
manifests:
  rawYaml: [k8s/*.yaml]
  hooks:
    before:
      - host:
          command: ["sh", "-c", "echo checking the schema; echo schema check failed: table users >&2; exit 3"]
      - host:
          command: ["sh", "-c", "touch $HOOKS_OUT/second"]
`)
	var log bytes.Buffer
	r := &Runner{Out: &log}
	err := r.Render(context.Background(), c, c.Render.LifecycleHooks, PreRender, RenderEnv{KubeContext: "kind", Namespaces: []string{"shop"}})
	want := `skaffold.yaml:7:9: manifests.hooks.before[0]: pre-render hook failed: "sh -c echo checking the schema; echo schema check failed: table users >&2; exit 3" failed: exit status 3; output: checking the schema | schema check failed: table users`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
	var f *Failure
	if !errors.As(err, &f) {
		t.Errorf("error is not a *Failure: %T", err)
	}
	if _, err := os.Stat(filepath.Join(out, "second")); err == nil {
		t.Errorf("the hook after the failing one ran")
	}
	if strings.Contains(log.String(), "Completed") {
		t.Errorf("a failed phase reported completion:\n%s", log.String())
	}
}

func TestMissingCommand(t *testing.T) {
	r := &Runner{}
	err := r.Build(context.Background(), nil, "build.artifacts[0].hooks", config.BuildHooks{PreHooks: []config.HostHook{{Command: []string{"/nonexistent/tool"}}}}, PreBuild, BuildEnv{})
	if err == nil || !strings.Contains(err.Error(), "build.artifacts[0].hooks.before[0]: pre-build hook failed") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("got %v", err)
	}
}

func TestEnvNames(t *testing.T) {
	got := strings.Join(SyncEnv{Image: "web:1", BuildContext: "/b", FilesAddedOrModified: []string{"a", "b"}, FilesDeleted: []string{"c"}, KubeContext: "k", Namespaces: []string{"x", "y"}}.env(), " ")
	want := "SKAFFOLD_IMAGE=web:1 SKAFFOLD_BUILD_CONTEXT=/b SKAFFOLD_FILES_ADDED_OR_MODIFIED=a;b SKAFFOLD_FILES_DELETED=c SKAFFOLD_KUBE_CONTEXT=k SKAFFOLD_NAMESPACES=x,y"
	if got != want {
		t.Errorf("sync env %q, want %q", got, want)
	}
	got = strings.Join(DeployEnv{RunID: "r", KubeContext: "k", Namespaces: []string{"n"}}.env(), " ")
	if want := "SKAFFOLD_RUN_ID=r SKAFFOLD_KUBE_CONTEXT=k SKAFFOLD_NAMESPACES=n"; got != want {
		t.Errorf("deploy env %q, want %q", got, want)
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
