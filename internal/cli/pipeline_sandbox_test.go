package cli

import (
	"github.com/skiff-dev/skiff/internal/pipeline/pipelinetest"
	"path/filepath"
	"regexp"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPipelineRunOnSandbox runs the example's merge-request and tag job
// graphs locally against the sandbox: the tag pipeline stops at the
// production gate until production is approved.
func TestPipelineRunOnSandbox(t *testing.T) {
	e, client := onSandbox(t)
	dir, app := copyExample(t)
	cleanupNamespaces(t, client, app)
	t.Setenv(beSkiff, "1")
	t.Setenv("SKAFFOLD_DEFAULT_REPO", e.Registry()+"/"+app)
	t.Setenv("BASE_IMAGE", e.BaseImage())

	out := mustRun(t, dir, "pipeline", "run", "--event", "merge_request", "--ref", "feature/pipeline")
	for _, job := range []string{"unit", "integration", "functional", "build:review", "review"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(job) + `\s+\S+\s+passed`).MatchString(out) {
			t.Errorf("merge request: %s did not pass:\n%s", job, out)
		}
	}

	out = mustRun(t, dir, "pipeline", "run", "--event", "tag", "--ref", "v2.0.0")
	if !regexp.MustCompile(`(?m)^staging\s+\S+\s+passed`).MatchString(out) || !regexp.MustCompile(`(?m)^production\s+\S+\s+(manual|waiting)`).MatchString(out) {
		t.Errorf("tag without approval must deploy staging and stop at production:\n%s", out)
	}
	if _, err := client.AppsV1().Deployments(app).Get(t.Context(), "myapp", metav1.GetOptions{}); err == nil {
		t.Error("production was deployed without approval")
	}
	out = mustRun(t, dir, "pipeline", "run", "--event", "tag", "--ref", "v2.0.0", "--approve", "production")
	if !regexp.MustCompile(`(?m)^production\s+\S+\s+passed`).MatchString(out) {
		t.Errorf("approved production did not pass:\n%s", out)
	}
	if _, err := client.AppsV1().Deployments(app).Get(t.Context(), "myapp", metav1.GetOptions{}); err != nil {
		t.Errorf("production: %v", err)
	}
}

// copyExample copies examples/myapp to a temp dir under a unique app name,
// so its namespaces are the test's own.
func copyExample(t *testing.T) (string, string) {
	t.Helper()
	_, app := envProject(t, "")
	files := pipelinetest.ExampleFiles(t, filepath.Join("..", "..", "examples", "myapp"))
	pipelinetest.RenameApp(files, app)
	dst := t.TempDir()
	pipelinetest.WriteFiles(t, dst, files)
	return dst, app
}
