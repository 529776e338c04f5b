package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
)

// beSkiff makes this test binary act as skiff when `skiff pipeline run`
// starts it for a job (the jobs run the current executable).
const beSkiff = "SKIFF_CLI_TEST_BE_SKIFF"

func init() {
	// skiff test's command tests re-execute this binary as the RUN sandbox.
	sandbox.Init()
	if os.Getenv(beSkiff) == "1" {
		os.Exit(Main(context.Background(), os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
	}
	// A job started without beSkiff would run this test binary's tests
	// again, and they start jobs: never let that recurse.
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-test.") {
		os.Stderr.WriteString("cli.test: started as skiff without " + beSkiff + "=1; refusing to run the tests again\n")
		os.Exit(ExitNotImplemented)
	}
}

// waitFor is a test suite that passes only if suite other starts while it
// runs: the two can only both pass when they run in parallel.
func waitFor(self, other string) string {
	return `touch ` + self + `.started; i=0; while [ ! -f ` + other + `.started ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; test -f ` + other + `.started && echo "` + self + ` ran alongside ` + other + `"`
}

func tinyProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), `apiVersion: skiff/v1
kind: Config
metadata:
  name: tiny
environments:
  - name: review
    dynamic: true
pipeline:
  tests:
    - name: left
      command: '`+waitFor("left", "right")+`'
    - name: right
      command: '`+waitFor("right", "left")+`'
    - name: broken
      command: echo "1 + 1 = 3" >&2; exit 2
`)
	return dir
}

func TestPipelineRun(t *testing.T) {
	dir := tinyProject(t)
	t.Setenv(beSkiff, "1")
	stdout, stderr, code := run(t, dir, "-f", "skiff.yaml", "pipeline", "run", "--event", "merge_request", "--ref", "feature/x")
	if code != ExitError {
		t.Errorf("exit code %d, want %d for a failed job\nstderr:\n%s", code, ExitError, stderr)
	}
	for _, row := range []string{
		`left\s+test\s+passed`,
		`right\s+test\s+passed`,
		`broken\s+test\s+failed\s+\S+\s+exit code 1`,
		`review\s+review\s+skipped\s+needs broken \(failed\)`,
		`stop_review\s+review\s+skipped\s+needs review \(skipped\)`,
		`pipeline 1: failed \(logs in \.skiff/pipelines/1\)`,
	} {
		if !regexp.MustCompile(row).MatchString(stdout) {
			t.Errorf("summary lacks %s:\n%s", row, stdout)
		}
	}
	for _, line := range []string{"merge_request pipeline for feature/x: 5 jobs", "▶ left", "✗ broken", "1 + 1 = 3", "skiff: pipeline 1 failed: broken"} {
		if !strings.Contains(stderr, line) {
			t.Errorf("progress lacks %q:\n%s", line, stderr)
		}
	}
	logs := filepath.Join(dir, ".skiff", "pipelines", "1")
	for file, want := range map[string]string{
		"left.log": "left ran alongside right",
		// The jobs read the configuration skiff pipeline run was given.
		"right.log":  "$ skiff --filename skiff.yaml pipeline test right\n",
		"broken.log": "1 + 1 = 3",
	} {
		data, err := os.ReadFile(filepath.Join(logs, file))
		if err != nil || !strings.Contains(string(data), want) {
			t.Errorf("%s: %v, want it to contain %q:\n%s", file, err, want, data)
		}
	}
}

func TestPipelineRunUsage(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), "apiVersion: skiff/v1\nkind: Config\npipeline:\n  tests:\n    - name: unit\n      command: 'true'\n")
	t.Setenv(beSkiff, "1")
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"pipeline", "run"}, ExitUsage, "--event is required"},
		{[]string{"pipeline", "run", "--event", "nightly"}, ExitUsage, `unknown event "nightly"`},
		{[]string{"pipeline", "run", "--event", "tag"}, ExitUsage, "pass --ref"},
		{[]string{"pipeline", "run", "--event", "schedule", "--ref", "main"}, ExitError, "no jobs for schedule pipelines"},
	}
	for _, tt := range tests {
		_, stderr, code := run(t, dir, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.err) {
			t.Errorf("skiff %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, stderr, tt.code, tt.err)
		}
	}
}

func TestPipelineTest(t *testing.T) {
	dir := tinyProject(t)
	_, stderr, code := run(t, dir, "pipeline", "test", "broken")
	if code != ExitError || !strings.Contains(stderr, "1 + 1 = 3") || !strings.Contains(stderr, "test suite broken failed (exit status 2") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = run(t, dir, "pipeline", "test", "nope")
	if code != ExitError || !strings.Contains(stderr, `test suite "nope" is not in pipeline.tests of skiff.yaml (suites: left, right, broken)`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	mustWrite(t, filepath.Join(dir, "ok", "skiff.yaml"), "apiVersion: skiff/v1\nkind: Config\npipeline:\n  tests:\n    - name: unit\n      command: pwd; echo $0\n")
	stdout, stderr, code := run(t, filepath.Join(dir, "ok"), "pipeline", "test", "unit")
	if code != 0 || !strings.HasPrefix(stdout, filepath.Join(dir, "ok")+"\nsh\n") {
		t.Errorf("exit %d, stdout %q, stderr %q: want the command run by sh in the project directory", code, stdout, stderr)
	}
}
