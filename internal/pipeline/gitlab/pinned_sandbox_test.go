package gitlab

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/pipeline"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// TestGitLabCILocalPinnedPromotion runs the generated tag pipeline's jobs
// one by one under gitlab-ci-local's shell executor the way a GitLab job
// has them: images and releases in the sandbox's TLS registry with token
// auth (CI_REGISTRY, CI_REGISTRY_USER gitlab-ci-token with the job token,
// its CA in a certs.d directory), the cluster through a KUBECONFIG whose
// only working context is named like a GitLab agent's, which staging's and
// production's kubeContext name. Between staging and production the
// release tag is pushed again: production still deploys the release the
// release job reported by digest (passed on by the dotenv reports), not
// what the tag names by then. No job log or kept file shows the token.
func TestGitLabCILocalPinnedPromotion(t *testing.T) {
	e, r, app, repo := agentExample(t, "gcp", "-staging", "")
	skiff, err := exec.LookPath("skiff") // agentExample's, first on PATH
	if err != nil {
		t.Fatal(err)
	}
	jobEnv, args := tlsJobEnv(t, e, r, app, sandboxAgent)
	api := newReleasesAPI(t, r.JobToken)
	args = append(append(args, api.vars...), tag.args()...)
	var logs strings.Builder
	job := func(name string, extra ...string) {
		t.Helper()
		logs.WriteString(gitlabCILocal(t, repo, append(append(slices.Clone(args), extra...), name)...))
	}
	job("build:release")
	job("release")
	released := dotenvReport(t, repo, "release", pipeline.ReleaseDotenv)[pipeline.VarRelease]
	if !strings.Contains(released, "@sha256:") {
		t.Fatalf("the release job reported %s=%q, want the release by digest", pipeline.VarRelease, released)
	}
	job("staging")
	if got := dotenvReport(t, repo, "staging", pipeline.DeployDotenv)[pipeline.VarRelease]; got != released {
		t.Fatalf("staging deployed %q, want %q", got, released)
	}

	// The tag is pushed again: a new release artifact under the same tag.
	buildJSON := findFile(t, filepath.Join(repo, ".gitlab-ci-local"), pipeline.BuildOutput)
	again := exec.Command(skiff, "release", "create", "--tag", "v1.0.0", "-a", buildJSON)
	again.Dir = repo
	again.Env = os.Environ()
	for k, v := range jobEnv {
		again.Env = append(again.Env, k+"="+v)
	}
	out, err := again.Output()
	if err != nil {
		t.Fatalf("pushing the tag again: %v", err)
	}
	repushed := strings.TrimSpace(string(out))
	if repushed == released {
		t.Fatalf("the second release under v1.0.0 has the first one's digest %s; the test cannot tell them apart", released)
	}

	job("production", "--manual", "production")
	if got := dotenvReport(t, repo, "production", pipeline.DeployDotenv)[pipeline.VarRelease]; got != released {
		t.Errorf("production deployed %q, want the release job's %q (the tag now names %q)", got, released, repushed)
	}
	if got := api.released(); !slices.Equal(got, []string{"v1.0.0"}) {
		t.Errorf("the release job asked GitLab's Releases API for releases %v, want [v1.0.0]", got)
	}
	noJobToken(t, repo, logs.String(), r.JobToken)
}

// sandboxAgent is the GitLab agent context the agent examples select.
const sandboxAgent = "skiff-dev/deploy:sandbox-agent"

// agentExample is the example project (its app named prefix and a random
// suffix) whose environments all select sandboxAgent's context, with
// skiff on PATH; the namespaces app+suffix are deleted at cleanup.
func agentExample(t *testing.T, prefix string, suffixes ...string) (*testenv.Env, *testenv.TLSRegistries, string, string) {
	t.Helper()
	e, r := testenv.RequireTLSRegistries(t)
	skiff := skiffOnPath(t)
	client := e.Clientset(t)
	app := fmt.Sprintf("%s%06x", prefix, rand.IntN(1<<24))
	repo := sandboxExampleRepo(t, skiff, app, withKubeContext(sandboxAgent))
	if ci := string(mustRead(t, filepath.Join(repo, ".gitlab-ci.yml"))); strings.Count(ci, "--kube-context "+sandboxAgent) != 4 {
		t.Fatalf("the review, stop_review, staging and production jobs do not select --kube-context %s:\n%s", sandboxAgent, ci)
	}
	t.Cleanup(func() {
		for _, suffix := range suffixes {
			_ = client.CoreV1().Namespaces().Delete(context.Background(), app+suffix, metav1.DeleteOptions{})
		}
	})
	return e, r, app, repo
}

// withKubeContext makes every environment of the example select the
// kubeconfig context agent (a GitLab agent's: path/to/project:agent).
func withKubeContext(agent string) func(files map[string][]byte) {
	return func(files map[string][]byte) {
		files["skiff.yaml"] = []byte(regexp.MustCompile(`(?m)^    onFailure: (\w+)\n`).
			ReplaceAllString(string(files["skiff.yaml"]), "    onFailure: $1\n    kubeContext: \""+agent+"\"\n"))
	}
}

// tlsJobEnv is what a GitLab job has, for gitlab-ci-local's shell
// executor: images and releases in the sandbox's TLS registry with token
// auth (CI_REGISTRY, CI_REGISTRY_USER gitlab-ci-token with the job token,
// its CA in a certs.d directory), the cluster through a KUBECONFIG whose
// only working context is agent. It returns the variables and
// gitlab-ci-local's arguments for them.
func tlsJobEnv(t *testing.T, e *testenv.Env, r *testenv.TLSRegistries, app, agent string) (map[string]string, []string) {
	t.Helper()
	certs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(certs, r.Token), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, r.Token, "ca.crt"), mustRead(t, r.CA), 0o644); err != nil {
		t.Fatal(err)
	}
	defaultRepo := r.Token + "/" + app
	jobEnv := map[string]string{
		"SKAFFOLD_DEFAULT_REPO": defaultRepo, "KUBECONFIG": e.AgentKubeconfig(t, agent), "BASE_IMAGE": e.BaseImage(),
		"GITLAB_CI": "true", "CI_REGISTRY": r.Token, "CI_REGISTRY_IMAGE": defaultRepo,
		"CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": r.JobToken,
		"SKIFF_REGISTRY_CERTS_DIR": certs,
	}
	args := []string{"--force-shell-executor", "--no-color"}
	for _, k := range slices.Sorted(maps.Keys(jobEnv)) {
		args = append(args, "--variable", k+"="+jobEnv[k])
	}
	return jobEnv, args
}

// noJobToken checks that neither the job logs nor a file gitlab-ci-local
// kept of a job shows token.
func noJobToken(t *testing.T, repo, logs, token string) {
	t.Helper()
	if strings.Contains(logs, token) {
		t.Error("a job log shows the job token")
	}
	_ = filepath.WalkDir(filepath.Join(repo, ".gitlab-ci-local", "artifacts"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(string(mustRead(t, p)), token) {
			t.Errorf("the kept artifact %s holds the job token", p)
		}
		return nil
	})
}

// TestGitLabCILocalMergeRequestTLS runs the generated merge-request
// pipeline, every job, under gitlab-ci-local's shell executor with what
// TestGitLabCILocalPinnedPromotion gives the tag pipeline's jobs: the TLS
// token-auth registry with the job token, the cluster only through the
// agent-named context, which review and stop_review select. The review
// image is in that registry, stop_review removes the review namespace, and
// no job log or kept file shows the token.
func TestGitLabCILocalMergeRequestTLS(t *testing.T) {
	// gitlab-ci-local's CI_COMMIT_REF_NAME is the checked-out branch.
	e, r, app, repo := agentExample(t, "gmt", "-main")
	reviewNS := app + "-main"
	_, args := tlsJobEnv(t, e, r, app, sandboxAgent)
	out := gitlabCILocal(t, repo, append(append(args, "--manual", "stop_review"), mergeRequest.args()...)...)
	assertPassed(t, out, "unit", "integration", "functional", "build:review", "review", "stop_review")
	built := builtImage(t, mustRead(t, findFile(t, filepath.Join(repo, ".gitlab-ci-local"), pipeline.BuildOutput)))
	if !strings.HasPrefix(built, r.Token+"/"+app+"/myapp:") || !strings.Contains(built, "@sha256:") {
		t.Errorf("build:review pushed %s, want an image of %s/%s by digest", built, r.Token, app)
	}
	if !strings.Contains(out, "Namespace "+reviewNS+" deleted") {
		t.Errorf("stop_review did not delete the review namespace %s:\n%s", reviewNS, out)
	}
	noJobToken(t, repo, out, r.JobToken)
}

// findFile returns the first file called name under dir.
func findFile(t *testing.T, dir, name string) string {
	t.Helper()
	var found string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name && found == "" {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no %s under %s", name, dir)
	}
	return found
}
