package gitlab

import (
	"context"
	"fmt"
	"github.com/skiff-dev/skiff/internal/pipeline/pipelinetest"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/testenv"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestGitLabCILocalPipelinesOnSandbox runs the example's generated
// merge-request and tag pipelines, every job, under gitlab-ci-local's shell
// executor against the sandbox's registry and cluster: tests, build, review
// deploy and its manual stop; build, release, staging and the manual
// production gate.
func TestGitLabCILocalPipelinesOnSandbox(t *testing.T) {
	e := testenv.Require(t)
	skiff := skiffOnPath(t)
	client := e.Clientset(t)
	app := fmt.Sprintf("gcl%06x", rand.IntN(1<<24))
	repo := sandboxExampleRepo(t, skiff, app)
	t.Cleanup(func() {
		for _, ns := range []string{app + "-staging", app, app + "-main"} {
			_ = client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	})
	sandboxVars := []string{
		"--variable", "SKAFFOLD_DEFAULT_REPO=" + e.Registry() + "/" + app,
		"--variable", "KUBECONFIG=" + e.Kubeconfig(),
		"--variable", "BASE_IMAGE=" + e.BaseImage(),
	}
	run := func(s scenario, manual string) string {
		args := append([]string{"--force-shell-executor", "--no-color", "--manual", manual}, sandboxVars...)
		return gitlabCILocal(t, repo, append(args, s.args()...)...)
	}
	passed := func(out string, jobs ...string) {
		t.Helper()
		for _, job := range jobs {
			if !regexp.MustCompile(`(?m)^\s*PASS\s+` + regexp.QuoteMeta(job) + `\s*$`).MatchString(out) {
				t.Errorf("job %s did not pass under gitlab-ci-local:\n%s", job, out)
			}
		}
	}

	out := run(mergeRequest, "stop_review")
	passed(out, "unit", "integration", "functional", "build:review", "review", "stop_review")
	for _, want := range []string{"$ skiff build -p development --file-output build.json", "$ skiff env deploy review", "$ skiff env stop review"} {
		if !strings.Contains(out, want) {
			t.Errorf("merge-request pipeline did not run %q", want)
		}
	}
	if !strings.Contains(out, "Namespace "+app+"-main deleted") {
		t.Errorf("stop_review did not delete the review namespace %s-main:\n%s", app, out)
	}
	if _, err := client.CoreV1().Namespaces().Get(context.Background(), app+"-main", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the review namespace survived stop_review: %v", err)
	}

	out = run(tag, "production")
	passed(out, "unit", "integration", "functional", "build:release", "release", "staging", "production")
	for _, ns := range []string{app + "-staging", app} {
		dep, err := client.AppsV1().Deployments(ns).Get(context.Background(), "myapp", metav1.GetOptions{})
		if err != nil {
			t.Errorf("namespace %s: %v", ns, err)
			continue
		}
		if img := dep.Spec.Template.Spec.Containers[0].Image; !strings.Contains(img, "/"+app+"/myapp:v1.0.0@sha256:") {
			t.Errorf("namespace %s runs %s, want the v1.0.0 build pinned by digest", ns, img)
		}
	}

	// Without --manual the production gate stops the tag pipeline.
	gated := gitlabCILocal(t, repo, append(append([]string{"--force-shell-executor", "--no-color"}, sandboxVars...), tag.args()...)...)
	if regexp.MustCompile(`(?m)^\s*PASS\s+production\s*$`).MatchString(gated) {
		t.Errorf("production ran without being started by hand:\n%s", gated)
	}
}

// sandboxExampleRepo is the example project renamed to app (so its
// namespaces are the test's own), with its .gitlab-ci.yml regenerated.
func sandboxExampleRepo(t *testing.T, skiff, app string) string {
	t.Helper()
	files := pipelinetest.ExampleFiles(t, projects[0].dir)
	pipelinetest.RenameApp(files, app)
	dir := t.TempDir()
	pipelinetest.WriteFiles(t, dir, files)
	gen := exec.Command(skiff, "ci", "gitlab")
	gen.Dir = dir
	out, err := gen.Output()
	if err != nil {
		t.Fatalf("skiff ci gitlab: %v", err)
	}
	files[".gitlab-ci.yml"] = out
	return newRepo(t, files)
}
