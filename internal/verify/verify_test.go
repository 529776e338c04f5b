package verify_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/testenv"
	"github.com/skiff-dev/skiff/internal/verify"
)

// load loads a verify section (YAML under "verify:") as a project.
func load(t *testing.T, section string) *config.Project {
	t.Helper()
	dir := t.TempDir()
	doc := "apiVersion: skaffold/v4beta13\nkind: Config\nmanifests: {rawYaml: [k8s/*.yaml]}\nverify:\n" + section
	if err := os.WriteFile(filepath.Join(dir, "skaffold.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: ignored\n  labels: {team: qa}\nspec:\n  activeDeadlineSeconds: 600\n  template:\n    metadata: {labels: {from: manifest}}\n    spec:\n      containers: [{name: placeholder, image: none}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Paths of the root configuration are relative to the working
	// directory, as in Skaffold.
	t.Chdir(dir)
	p, err := config.Load(config.LoadOptions{WorkDir: dir, Activation: config.ActivationContext{Env: map[string]string{}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJobShape(t *testing.T) {
	p := load(t, `  - name: smoke
    container:
      name: curl
      image: web
      command: ["sh", "-c"]
      args: ["wget -qO- http://web"]
      env: [{name: TARGET, value: web}]
    executionMode:
      kubernetesCluster:
        jobManifestPath: job.yaml
        overrides: '{"spec":{"template":{"spec":{"serviceAccountName":"tester"}}}}'
`)
	tests := verify.Tests(p)
	if len(tests) != 1 || !tests[0].InCluster() {
		t.Fatalf("tests: %+v", tests)
	}
	builds := &artifact.File{Builds: []artifact.Build{{ImageName: "web", Tag: "reg/web:1@sha256:aa"}}}
	if got := tests[0].Image(builds); got != "reg/web:1@sha256:aa" {
		t.Errorf("image %q, want the build of web", got)
	}
	c := &verify.Cluster{Namespace: "qa", RunID: "run-1"}
	job, err := c.Job(tests[0], "reg/web:1@sha256:aa")
	if err != nil {
		t.Fatal(err)
	}
	spec := job.Spec.Template.Spec
	switch {
	case job.Name != "smoke" || job.Namespace != "qa":
		t.Errorf("job %s/%s, want qa/smoke (the test's name)", job.Namespace, job.Name)
	case job.Labels["skaffold.dev/run-id"] != "run-1" || job.Labels["team"] != "qa" || job.Spec.Template.Labels["from"] != "manifest":
		t.Errorf("labels %v / %v", job.Labels, job.Spec.Template.Labels)
	case len(spec.Containers) != 1 || spec.Containers[0].Name != "curl" || spec.Containers[0].Image != "reg/web:1@sha256:aa" || spec.Containers[0].Args[0] != "wget -qO- http://web":
		t.Errorf("containers %+v", spec.Containers)
	case spec.RestartPolicy != "Never" || *job.Spec.BackoffLimit != 0 || *job.Spec.ActiveDeadlineSeconds != 600:
		t.Errorf("restartPolicy %s, backoffLimit %v, activeDeadlineSeconds %v", spec.RestartPolicy, job.Spec.BackoffLimit, job.Spec.ActiveDeadlineSeconds)
	case spec.ServiceAccountName != "tester":
		t.Errorf("overrides not applied: serviceAccountName %q", spec.ServiceAccountName)
	}
	for _, e := range spec.Containers[0].Env {
		if e.Name != "TARGET" {
			t.Errorf("the Job carries the environment variable %s, which the test does not set", e.Name)
		}
	}
}

// TestClusterOnRealNode runs verify Jobs on the real node: a passing test
// with its logs streamed, a failing one with the container's exit code,
// and one past its timeout; the Jobs are gone afterwards.
func TestClusterOnRealNode(t *testing.T) {
	e, node := testenv.RequireRealNode(t)
	ns := node.Namespace(t, "verify")
	p := load(t, `  - name: passes
    container: {name: check, image: `+e.BaseImage()+`, command: ["sh", "-c", "echo checking $TARGET; echo ok"], env: [{name: TARGET, value: web}]}
    executionMode: {kubernetesCluster: {}}
  - name: fails
    container: {name: check, image: `+e.BaseImage()+`, command: ["sh", "-c", "echo expected 200 got 503; exit 3"]}
    executionMode: {kubernetesCluster: {}}
  - name: hangs
    timeout: 3
    container: {name: check, image: `+e.BaseImage()+`, command: ["sleep", "600"]}
    executionMode: {kubernetesCluster: {}}
`)
	var out bytes.Buffer
	c := &verify.Cluster{Client: e.Clientset(t), Namespace: ns, RunID: "r", Out: &out}
	ctx := t.Context()
	var results []verify.Result
	for _, tc := range verify.Tests(p) {
		r, err := c.Run(ctx, tc, tc.Image(nil))
		if err != nil {
			t.Fatalf("%s: %v", tc.Case.Name, err)
		}
		results = append(results, r)
	}
	if r := results[0]; !r.Passed || r.ExitCode != 0 {
		t.Errorf("passes: %+v", r)
	}
	if r := results[1]; r.Passed || r.ExitCode != 3 || !strings.Contains(r.Message, "container check exited with code 3") {
		t.Errorf("fails: %+v", r)
	}
	if r := results[2]; r.Passed || !strings.Contains(r.Message, "timed out after 3s") {
		t.Errorf("hangs: %+v", r)
	}
	for _, want := range []string{"[passes] checking web\n", "[passes] ok\n", "[fails] expected 200 got 503\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("streamed logs lack %q:\n%s", want, out.String())
		}
	}
	for _, name := range []string{"passes", "fails", "hangs"} {
		if _, err := e.Clientset(t).BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Job %s left behind: %v", name, err)
		}
	}
}

// TestLocal runs verify containers in the builder's sandbox.
func TestLocal(t *testing.T) {
	testenv.RequireRoot(t, "verify's local mode runs the container in the builder's sandbox")
	e := testenv.Require(t)
	p := load(t, `  - name: passes
    container: {name: check, image: `+e.BaseImage()+`, command: ["sh", "-c", "echo hello $WHO"], env: [{name: WHO, value: verify}]}
  - name: fails
    container: {name: check, image: `+e.BaseImage()+`, command: ["sh", "-c", "exit 5"]}
  - name: hangs
    timeout: 2
    container: {name: check, image: `+e.BaseImage()+`, command: ["sleep", "600"]}
`)
	var out bytes.Buffer
	l := &verify.Local{Registry: oci.New(oci.Options{}), Out: &out}
	var results []verify.Result
	for _, tc := range verify.Tests(p) {
		r, err := l.Run(t.Context(), tc, tc.Image(nil))
		if err != nil {
			t.Fatalf("%s: %v", tc.Case.Name, err)
		}
		results = append(results, r)
	}
	if r := results[0]; !r.Passed || !strings.Contains(out.String(), "[passes] hello verify\n") {
		t.Errorf("passes: %+v; output %q", r, out.String())
	}
	if r := results[1]; r.Passed || r.ExitCode != 5 {
		t.Errorf("fails: %+v", r)
	}
	if r := results[2]; r.Passed || !strings.Contains(r.Message, "timed out after 2s") {
		t.Errorf("hangs: %+v", r)
	}
}
