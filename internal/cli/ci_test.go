package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const example = "../../examples/myapp"

func TestCIGitLab(t *testing.T) {
	dir, err := filepath.Abs(example)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, ".gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, dir, "ci", "gitlab")
	if code != 0 || stdout != string(want) {
		t.Errorf("skiff ci gitlab in examples/myapp: exit %d, stderr %q; stdout differs from the checked-in .gitlab-ci.yml", code, stderr)
	}
	_, stderr, code = run(t, dir, "ci", "gitlab", "-o", ".gitlab-ci.yml", "--check")
	if code != 0 || !strings.Contains(stderr, "up to date") {
		t.Errorf("--check on the checked-in file: exit %d, stderr %q", code, stderr)
	}
}

func TestCIGitLabWriteAndCheck(t *testing.T) {
	dir := tinyProject(t)
	_, stderr, code := run(t, dir, "ci", "gitlab", "-o", "ci/.gitlab-ci.yml", "--check")
	if code != ExitError || !strings.Contains(stderr, "generated CI configuration is out of date: [ci/.gitlab-ci.yml]; run skiff ci gitlab -o ci/.gitlab-ci.yml") {
		t.Errorf("--check of a missing file: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = run(t, dir, "ci", "gitlab", "-o", "ci/.gitlab-ci.yml")
	data, err := os.ReadFile(filepath.Join(dir, "ci", ".gitlab-ci.yml"))
	if code != 0 || err != nil || !strings.Contains(string(data), "skiff pipeline test broken") {
		t.Errorf("-o: exit %d, stderr %q, file %v", code, stderr, err)
	}
	if _, _, code = run(t, dir, "ci", "gitlab", "-o", "ci/.gitlab-ci.yml", "--check"); code != 0 {
		t.Errorf("--check right after writing: exit %d", code)
	}
	if _, stderr, code = run(t, dir, "ci", "gitlab", "--check"); code != ExitUsage {
		t.Errorf("--check without -o: exit %d, stderr %q", code, stderr)
	}
}

func TestCIGitHub(t *testing.T) {
	dir := tinyProject(t)
	_, stderr, code := run(t, dir, "ci", "github", "-o", ".github/workflows")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	entries, err := os.ReadDir(filepath.Join(dir, ".github", "workflows"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// No build, no staging or production: tags only run the tests.
	if got := strings.Join(names, " "); got != "skiff-pull-request.yml skiff-push.yml skiff-schedule.yml skiff-tag.yml" {
		t.Errorf("workflows %s", got)
	}
	stdout, _, code := run(t, dir, "ci", "github")
	if code != 0 || !strings.HasPrefix(stdout, "# skiff-pull-request.yml\n") || strings.Count(stdout, "\n---\n") != 3 {
		t.Errorf("stdout of ci github: exit %d\n%s", code, stdout)
	}
}

func TestCIConfigError(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), "apiVersion: skiff/v1\nkind: Config\nenvironments:\n  - name: review\npipeline:\n  review: review\n")
	_, stderr, code := run(t, dir, "ci", "gitlab")
	if code != ExitError || !strings.Contains(stderr, `skiff.yaml:6:11: pipeline.review: environment "review" is not dynamic`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
