package gitlab

import (
	"encoding/json"
	"github.com/skiff-dev/skiff/internal/pipeline/pipelinetest"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
)

// These tests check the generated .gitlab-ci.yml with gitlab-ci-local
// 4.65.0, which validates it against GitLab's CI JSON schema on load,
// evaluates every job's rules for the variables of a pipeline, and runs jobs
// with its shell executor. hack/gitlab-ci-local installs it with npm on
// first use.

// scenario is one kind of pipeline, simulated with CI variables.
type scenario struct {
	name  string
	vars  map[string]string
	unset []string
	// jobs are the jobs the pipeline must have: name → "when,allowFailure".
	jobs map[string]string
}

func (s scenario) args() []string {
	var args []string
	for _, k := range sortedKeys(s.vars) {
		args = append(args, "--variable", k+"="+s.vars[k])
	}
	for _, k := range s.unset {
		args = append(args, "--unset-variable", k)
	}
	return args
}

var (
	mergeRequest = scenario{
		name:  "merge request",
		vars:  map[string]string{"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "7"},
		unset: []string{"CI_COMMIT_BRANCH"},
		jobs: map[string]string{
			"unit": "on_success,false", "integration": "on_success,false", "functional": "on_success,false",
			"build:review": "on_success,false", "review": "on_success,false",
			"stop_review": "manual,true",
		},
	}
	tag = scenario{
		name:  "tag",
		vars:  map[string]string{"CI_COMMIT_TAG": "v1.0.0"},
		unset: []string{"CI_COMMIT_BRANCH"},
		jobs: map[string]string{
			"unit": "on_success,false", "integration": "on_success,false", "functional": "on_success,false",
			"build:release": "on_success,false", "release": "on_success,false", "staging": "on_success,false",
			"production": "manual,false", // the blocking gate
		},
	}
	push = scenario{
		name: "default branch",
		jobs: map[string]string{
			"unit": "on_success,false", "integration": "on_success,false", "functional": "on_success,false",
			"build": "on_success,false",
		},
	}
	schedule = scenario{
		name: "schedule",
		vars: map[string]string{"CI_PIPELINE_SOURCE": "schedule"},
		jobs: map[string]string{"gc": "on_success,false", "cleanup": "on_success,false"},
	}
)

func TestGitLabCILocalJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("needs gitlab-ci-local (npm)")
	}
	repo := exampleRepo(t)
	for _, s := range []scenario{mergeRequest, tag, push, schedule} {
		t.Run(s.name, func(t *testing.T) {
			out := gitlabCILocal(t, repo, append([]string{"--list-csv"}, s.args()...)...)
			if diff := cmp.Diff(s.jobs, listedJobs(t, out)); diff != "" {
				t.Errorf("jobs of a %s pipeline (-want +gitlab-ci-local):\n%s", s.name, diff)
			}
			gitlabCILocal(t, repo, append([]string{"--validate-dependency-chain"}, s.args()...)...)
		})
	}
}

// runnable lists, per pipeline, the jobs that need neither a registry nor a
// cluster; gitlab-ci-local runs them with its shell executor and a skiff
// built from this checkout. TestGitLabCILocalPipelinesOnSandbox runs the
// whole pipelines.
var runnable = []struct {
	scenario scenario
	jobs     []string
}{
	{mergeRequest, []string{"unit", "integration", "functional"}},
	{tag, []string{"unit", "integration", "functional"}},
}

func TestGitLabCILocalRunsJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("needs gitlab-ci-local (npm) and builds skiff")
	}
	skiffOnPath(t)
	for _, r := range runnable {
		t.Run(r.scenario.name, func(t *testing.T) {
			repo := exampleRepo(t)
			args := append([]string{"--force-shell-executor", "--no-color"}, r.scenario.args()...)
			out := gitlabCILocal(t, repo, append(args, r.jobs...)...)
			for _, job := range r.jobs {
				if !regexp.MustCompile(`(?m)^\s*PASS\s+` + regexp.QuoteMeta(job) + `\s*$`).MatchString(out) {
					t.Errorf("job %s did not pass under gitlab-ci-local:\n%s", job, out)
				}
				if !strings.Contains(out, "$ skiff pipeline test "+job) {
					t.Errorf("job %s did not run its skiff command:\n%s", job, out)
				}
			}
		})
	}
}

// skiffOnPath builds skiff from this checkout into a temp dir on PATH, for
// the jobs gitlab-ci-local runs with its shell executor.
func skiffOnPath(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "skiff"), ".")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building skiff: %v\n%s", err, out)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return filepath.Join(bin, "skiff")
}

// gitlab-ci-local does not apply workflow:rules, so they are evaluated with
// its rule evaluator directly: which pushes start a pipeline at all.
func TestGitLabWorkflowRules(t *testing.T) {
	if testing.Short() {
		t.Skip("needs gitlab-ci-local (npm)")
	}
	repo := exampleRepo(t)
	base := map[string]string{"CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"merge request", with("CI_PIPELINE_SOURCE", "merge_request_event", "CI_MERGE_REQUEST_IID", "7"), "on_success"},
		{"tag", with("CI_COMMIT_TAG", "v1.0.0"), "on_success"},
		{"default branch", with("CI_COMMIT_BRANCH", "main"), "on_success"},
		{"schedule", with("CI_PIPELINE_SOURCE", "schedule", "CI_COMMIT_BRANCH", "main"), "on_success"},
		{"other branch", with("CI_COMMIT_BRANCH", "feature/x"), "never"},
		{"branch with an open merge request", with("CI_COMMIT_BRANCH", "feature/x", "CI_OPEN_MERGE_REQUESTS", "group/myapp!7"), "never"},
		{"default branch with an open merge request", with("CI_COMMIT_BRANCH", "main", "CI_OPEN_MERGE_REQUESTS", "group/myapp!7"), "never"},
	}
	modules := filepath.Dir(filepath.Dir(installGitLabCILocal(t))) // …/node_modules/.bin/gitlab-ci-local → …/node_modules
	script, err := filepath.Abs("testdata/workflow-rules.mjs")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars, _ := json.Marshal(tt.vars)
			cmd := exec.Command("node", script, modules, filepath.Join(repo, ".gitlab-ci.yml"), string(vars))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node %s: %v\n%s", script, err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tt.want {
				t.Errorf("workflow:rules give %q, want %q", got, tt.want)
			}
		})
	}
}

// The other configurations must pass GitLab's schema and keep consistent
// needs in merge-request and tag pipelines too.
func TestGitLabCILocalValidatesFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("needs gitlab-ci-local (npm)")
	}
	for _, p := range projects[1:] {
		t.Run(p.name, func(t *testing.T) {
			repo := newRepo(t, map[string][]byte{".gitlab-ci.yml": generate(t, p.dir)})
			for _, s := range []scenario{mergeRequest, tag} {
				gitlabCILocal(t, repo, append([]string{"--list-csv"}, s.args()...)...)
				gitlabCILocal(t, repo, append([]string{"--validate-dependency-chain"}, s.args()...)...)
			}
		})
	}
}

// listedJobs parses --list-csv: name;description;stage;when;allowFailure;needs.
func listedJobs(t *testing.T, out string) map[string]string {
	t.Helper()
	jobs := map[string]string{}
	header := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "name;description;stage;when;allowFailure;needs") {
			header = true
			continue
		}
		f := strings.Split(line, ";")
		if !header || len(f) < 6 {
			continue
		}
		jobs[f[0]] = f[3] + "," + f[4]
	}
	if !header {
		t.Fatalf("no job list in gitlab-ci-local's output:\n%s", out)
	}
	return jobs
}

// repoRoot is the skiff checkout, where hack/gitlab-ci-local is.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "gitlab-ci-local")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("hack/gitlab-ci-local not found above the test's directory")
		}
		dir = parent
	}
}

// installGitLabCILocal installs gitlab-ci-local if needed and returns its
// executable.
func installGitLabCILocal(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoRoot(t), "hack", "gitlab-ci-local"), "--install-only").Output()
	if err != nil {
		t.Fatalf("installing gitlab-ci-local: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// gitlabCILocal runs gitlab-ci-local in repo and returns its stdout; it
// fails the test when gitlab-ci-local fails (schema errors, broken needs).
func gitlabCILocal(t *testing.T, repo string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("gitlab-ci-local needs git on PATH")
	}
	bin := installGitLabCILocal(t)
	cmd := exec.Command(bin, args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GCL_IGNORE_PREDEFINED_VARS=CI_PIPELINE_SOURCE", "FORCE_COLOR=0")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gitlab-ci-local %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// exampleRepo is a git repository holding a copy of examples/myapp, whose
// .gitlab-ci.yml is checked to be current by TestGolden.
func exampleRepo(t *testing.T) string {
	t.Helper()
	return newRepo(t, pipelinetest.ExampleFiles(t, projects[0].dir))
}

// newRepo creates a git repository on branch main with files committed and
// an origin remote on a GitLab server, as gitlab-ci-local expects.
func newRepo(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: "skiff test", Email: "test@skiff.dev", When: time.Unix(1700000000, 0)}
	commit, err := wt.Commit("example", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{"https://gitlab.example.com/group/myapp.git"}}); err != nil {
		t.Fatal(err)
	}
	// origin/HEAD names the default branch, as after a clone.
	for _, ref := range []*plumbing.Reference{
		plumbing.NewHashReference("refs/remotes/origin/main", commit),
		plumbing.NewSymbolicReference("refs/remotes/origin/HEAD", "refs/remotes/origin/main"),
	} {
		if err := repo.Storer.SetReference(ref); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
