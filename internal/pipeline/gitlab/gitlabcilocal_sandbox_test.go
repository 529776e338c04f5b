package gitlab

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/joho/godotenv"
	"gopkg.in/yaml.v3"

	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/pipeline"
	"github.com/skiff-dev/skiff/internal/pipeline/pipelinetest"
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
	api := newReleasesAPI(t, "test-job-token")
	sandboxVars := append([]string{
		"--variable", "SKAFFOLD_DEFAULT_REPO=" + e.Registry() + "/" + app,
		"--variable", "KUBECONFIG=" + e.Kubeconfig(),
		"--variable", "BASE_IMAGE=" + e.BaseImage(),
	}, api.vars...)
	run := func(s scenario, manual string) string {
		args := append([]string{"--force-shell-executor", "--no-color", "--manual", manual}, sandboxVars...)
		return gitlabCILocal(t, repo, append(args, s.args()...)...)
	}
	out := run(mergeRequest, "stop_review")
	assertPassed(t, out, "unit", "integration", "functional", "build:review", "review", "stop_review")
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
	assertPassed(t, out, "unit", "integration", "functional", "build:release", "release", "staging", "production")
	if got := api.released(); !slices.Equal(got, []string{"v1.0.0"}) {
		t.Errorf("the release job asked GitLab's Releases API for releases %v, want [v1.0.0]", got)
	}
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

// assertPassed checks that gitlab-ci-local's output says each of jobs passed.
func assertPassed(t *testing.T, out string, jobs ...string) {
	t.Helper()
	for _, job := range jobs {
		if !regexp.MustCompile(`(?m)^\s*PASS\s+` + regexp.QuoteMeta(job) + `\s*$`).MatchString(out) {
			t.Errorf("job %s did not pass under gitlab-ci-local:\n%s", job, out)
		}
	}
}

// sandboxExampleRepo is the example project renamed to app (so its
// namespaces are the test's own), changed by edits, with its
// .gitlab-ci.yml regenerated.
func sandboxExampleRepo(t *testing.T, skiff, app string, edits ...func(files map[string][]byte)) string {
	t.Helper()
	files := pipelinetest.ExampleFiles(t, projects[0].dir)
	pipelinetest.RenameApp(files, app)
	for _, edit := range edits {
		edit(files)
	}
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

// TestGitLabCILocalReviewURLIsTheDeployedOne runs the generated review job
// under gitlab-ci-local for refs GitLab's CI_COMMIT_REF_SLUG would get
// wrong (feature/Login_Page) and one it keeps (fix-1), and checks that the
// URL of the job's dotenv report, which environment:url names, is the one
// skiff env deploy stored on the namespace it deployed: skiff's injective
// slug, not GitLab's.
func TestGitLabCILocalReviewURLIsTheDeployedOne(t *testing.T) {
	e := testenv.Require(t)
	skiff := skiffOnPath(t)
	client := e.Clientset(t)
	app := fmt.Sprintf("gcu%06x", rand.IntN(1<<24))
	repo := sandboxExampleRepo(t, skiff, app)

	var ci map[string]any
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(repo, ".gitlab-ci.yml")), &ci); err != nil {
		t.Fatal(err)
	}
	review := ci["review"].(map[string]any)
	report := review["artifacts"].(map[string]any)["reports"].(map[string]any)["dotenv"].(string)
	if u := review["environment"].(map[string]any)["url"]; u != "$"+pipeline.DotenvURL {
		t.Fatalf("review environment url = %v, want $%s from the dotenv report", u, pipeline.DotenvURL)
	}

	args := []string{"--force-shell-executor", "--no-color",
		"--variable", "SKAFFOLD_DEFAULT_REPO=" + e.Registry() + "/" + app,
		"--variable", "KUBECONFIG=" + e.Kubeconfig(),
		"--variable", "BASE_IMAGE=" + e.BaseImage(),
	}
	args = append(args, mergeRequest.args()...)
	// The build runs once; the review job takes its build.json artifact.
	gitlabCILocal(t, repo, append(slices.Clone(args), "build:review")...)

	for _, ref := range []string{"feature/Login_Page", "fix-1"} {
		t.Run(ref, func(t *testing.T) {
			out := gitlabCILocal(t, repo, append(slices.Clone(args), "--variable", "CI_COMMIT_REF_NAME="+ref, "review")...)
			vars := dotenvReport(t, repo, "review", report)
			ns := vars[env.DotenvNamespace]
			t.Cleanup(func() {
				_ = client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
			})
			if vars[env.DotenvRef] != ref {
				t.Fatalf("the review job deployed ref %q, want %q:\n%s", vars[env.DotenvRef], ref, out)
			}
			got, err := client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("namespace %q of the dotenv report: %v", ns, err)
			}
			stored := got.Annotations[env.AnnotationURL]
			// RenameApp renames the namespaces, not the URL's domain.
			want := "https://" + env.RefSlug(ref) + ".review.myapp.example.com"
			if vars[pipeline.DotenvURL] != stored || stored != want {
				t.Errorf("dotenv report URL %q, namespace %s stores %q, want both %q", vars[pipeline.DotenvURL], ns, stored, want)
			}
			if ns != app+"-"+env.RefSlug(ref) {
				t.Errorf("namespace %q, want %q", ns, app+"-"+env.RefSlug(ref))
			}
		})
	}
}

// dotenvReport reads the dotenv report gitlab-ci-local kept of job, with the
// parser GitLab's format follows.
func dotenvReport(t *testing.T, repo, job, name string) map[string]string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir(filepath.Join(repo, ".gitlab-ci-local"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name && strings.Contains(p, string(filepath.Separator)+job+string(filepath.Separator)) {
			found = append(found, p)
		}
		return nil
	})
	if len(found) == 0 {
		t.Fatalf("no dotenv report %s of job %s under %s/.gitlab-ci-local", name, job, repo)
	}
	vars, err := godotenv.Read(found[0])
	if err != nil {
		t.Fatalf("dotenv report %s: %v", found[0], err)
	}
	return vars
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
