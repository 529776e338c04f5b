package local

import (
	"context"
	"fmt"
	"github.com/skiff-dev/skiff/internal/pipeline/pipelinetest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/skiff-dev/skiff/internal/pipeline"
)

// exitError is a command's non-zero exit, as exec.ExitError reports it.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitError) ExitCode() int { return int(e) }

// fakeRunner runs commands by calling do with the command line as the CI
// configuration shows it (skiff … with variables expanded), and records the
// calls and the highest number of commands running at once.
type fakeRunner struct {
	do func(ctx context.Context, line string, c Cmd) error

	mu         sync.Mutex
	calls      []Cmd
	running    int
	maxRunning int
}

func (f *fakeRunner) Run(ctx context.Context, c Cmd) error {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	line := strings.Join(append([]string{"skiff"}, c.Args[1:]...), " ")
	fmt.Fprintf(c.Output, "fake output of %s\n", line)
	if f.do == nil {
		return nil
	}
	return f.do(ctx, line, c)
}

// succeed is a fake that writes the files skiff build would write.
func succeed(_ context.Context, line string, c Cmd) error {
	switch {
	case strings.HasPrefix(line, "skiff build"):
		return os.WriteFile(filepath.Join(c.Dir, pipeline.BuildOutput), []byte(`{"builds":[]}`), 0o644)
	case strings.HasPrefix(line, "skiff release create"):
		// What skiff release create --dotenv writes: the release by digest.
		return os.WriteFile(filepath.Join(c.Dir, pipeline.ReleaseDotenv), []byte(pipeline.VarRelease+"="+fakeRelease+"\n"), 0o644)
	case strings.HasPrefix(line, "skiff env deploy") && slices.Contains(c.Args, "--release"):
		// A deploy of a release reports the release it deployed.
		rel := c.Args[slices.Index(c.Args, "--release")+1]
		return os.WriteFile(filepath.Join(c.Dir, pipeline.DeployDotenv), []byte("SKIFF_NAMESPACE=x\n"+pipeline.VarRelease+"="+rel+"\n"), 0o644)
	}
	return nil
}

// fakeRelease is the release the fake skiff release create reports.
const fakeRelease = "registry.example/app/releases@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func exampleGraph(t *testing.T) *pipeline.Graph {
	t.Helper()
	_, g := pipelinetest.Graph(t, "../../../examples/myapp")
	return g
}

func runExample(t *testing.T, f *fakeRunner, opts Options) *Result {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Skiff = "/opt/skiff/bin/skiff"
	opts.Runner = f
	if opts.Environ == nil {
		opts.Environ = []string{"PATH=/usr/bin:/bin", "HOME=/root"}
	}
	res, err := Run(context.Background(), exampleGraph(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func statuses(res *Result) map[string]Status {
	out := map[string]Status{}
	for _, j := range res.Jobs {
		out[j.Name] = j.Status
	}
	return out
}

func TestMergeRequestPipeline(t *testing.T) {
	// The three test suites only pass if they all run at the same time.
	var started sync.WaitGroup
	started.Add(3)
	barrier := make(chan struct{})
	go func() { started.Wait(); close(barrier) }()
	f := &fakeRunner{do: func(ctx context.Context, line string, c Cmd) error {
		if strings.HasPrefix(line, "skiff pipeline test") {
			started.Done()
			select {
			case <-barrier:
			case <-time.After(20 * time.Second):
				return fmt.Errorf("the test suites did not run in parallel")
			}
		}
		return succeed(ctx, line, c)
	}}
	res := runExample(t, f, Options{Event: pipeline.MergeRequest, Ref: "feature/Login", MergeRequest: "7"})
	want := map[string]Status{
		"unit": Passed, "integration": Passed, "functional": Passed,
		"build:review": Passed, "review": Passed,
		"stop_review": Manual,
	}
	if diff := cmp.Diff(want, statuses(res)); diff != "" {
		t.Errorf("job states (-want +got):\n%s", diff)
	}
	if res.Status != Passed {
		t.Errorf("pipeline %s, want passed: an optional manual job does not hold it", res.Status)
	}
	var lines []string
	for _, c := range f.calls {
		if c.Args[0] != "/opt/skiff/bin/skiff" {
			t.Errorf("ran %s; skiff commands must run the given executable", c.Args[0])
		}
		lines = append(lines, strings.Join(c.Args[1:], " "))
	}
	if !slices.Contains(lines, "env deploy review --ref feature/Login -a build.json --dotenv deploy.env") {
		t.Errorf("commands %q: want the review deploy with the ref expanded", lines)
	}
	// Each job's log is on disk, with its commands and their output.
	log, err := os.ReadFile(filepath.Join(res.Dir, "build-review.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"$ skiff build -p development --file-output build.json", "fake output of skiff build"} {
		if !strings.Contains(string(log), s) {
			t.Errorf("build log lacks %q:\n%s", s, log)
		}
	}
	if _, err := os.Stat(filepath.Join(res.Dir, "artifacts", "build-review", "build.json")); err != nil {
		t.Errorf("the build's artifact was not kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(res.Dir, "pipeline.json")); err != nil {
		t.Errorf("no summary: %v", err)
	}
}

func TestFailingJobSkipsDependents(t *testing.T) {
	f := &fakeRunner{do: func(ctx context.Context, line string, c Cmd) error {
		if line == "skiff pipeline test integration" {
			fmt.Fprintln(c.Output, "FAIL: the port is wrong")
			return exitError(1)
		}
		return succeed(ctx, line, c)
	}}
	res := runExample(t, f, Options{Event: pipeline.MergeRequest, Ref: "main"})
	want := map[string]Status{
		"unit": Passed, "integration": Failed, "functional": Passed,
		"build:review": Skipped, "review": Skipped, "stop_review": Skipped,
	}
	if diff := cmp.Diff(want, statuses(res)); diff != "" {
		t.Errorf("job states (-want +got):\n%s", diff)
	}
	if res.Status != Failed {
		t.Errorf("pipeline %s, want failed", res.Status)
	}
	for _, j := range res.Jobs {
		switch j.Name {
		case "integration":
			if j.ExitCode != 1 || j.Reason != "exit code 1" {
				t.Errorf("integration: exit %d, reason %q", j.ExitCode, j.Reason)
			}
			if log, _ := os.ReadFile(j.Log); !strings.Contains(string(log), "FAIL: the port is wrong") {
				t.Errorf("the failing job's log lacks its output:\n%s", log)
			}
		case "build:review":
			if j.Reason != "needs integration (failed)" {
				t.Errorf("build:review reason %q", j.Reason)
			}
		}
	}
	for _, c := range f.calls {
		if slices.Contains(c.Args, "build") || slices.Contains(c.Args, "deploy") {
			t.Errorf("ran %v after a test failed", c.Args)
		}
	}
}

func TestProductionGate(t *testing.T) {
	all := map[string]Status{
		"unit": Passed, "integration": Passed, "functional": Passed,
		"build:release": Passed, "release": Passed, "staging": Passed,
	}
	t.Run("without approval", func(t *testing.T) {
		f := &fakeRunner{do: succeed}
		res := runExample(t, f, Options{Event: pipeline.Tag, Ref: "v1.0.0"})
		want := maps(all, "production", AwaitingApproval)
		if diff := cmp.Diff(want, statuses(res)); diff != "" {
			t.Errorf("job states (-want +got):\n%s", diff)
		}
		if res.Status != AwaitingApproval {
			t.Errorf("pipeline %s, want %s", res.Status, AwaitingApproval)
		}
		for _, c := range f.calls {
			if strings.Contains(strings.Join(c.Args, " "), "env deploy production") {
				t.Errorf("production was deployed without approval: %v", c.Args)
			}
		}
	})
	t.Run("approved", func(t *testing.T) {
		f := &fakeRunner{do: succeed}
		res := runExample(t, f, Options{Event: pipeline.Tag, Ref: "v1.0.0", Approve: []string{"production"}})
		if diff := cmp.Diff(maps(all, "production", Passed), statuses(res)); diff != "" {
			t.Errorf("job states (-want +got):\n%s", diff)
		}
		last := f.calls[len(f.calls)-1]
		// Production deploys the digest the release job reported (passed
		// on through staging's dotenv report), not the tag.
		if got := strings.Join(last.Args[1:], " "); got != "env deploy production --release "+fakeRelease+" --approve --dotenv deploy.env" {
			t.Errorf("last command %q", got)
		}
		for _, c := range f.calls {
			if slices.Contains(c.Args, "staging") && !slices.Contains(c.Args, fakeRelease) {
				t.Errorf("staging did not deploy the release job's digest: %v", c.Args)
			}
		}
		if v := getenv(last.Env, "CI_JOB_MANUAL"); v != "true" {
			t.Errorf("CI_JOB_MANUAL = %q in an approved manual job", v)
		}
	})
}

func maps(m map[string]Status, k string, v Status) map[string]Status {
	out := map[string]Status{k: v}
	for key, val := range m {
		out[key] = val
	}
	return out
}

func TestNotImplementedCommand(t *testing.T) {
	f := &fakeRunner{do: func(_ context.Context, line string, c Cmd) error {
		if strings.HasPrefix(line, "skiff build") {
			fmt.Fprintln(c.Output, "skiff: skiff build: not implemented yet")
			return exitError(3)
		}
		return nil
	}}
	res := runExample(t, f, Options{Event: pipeline.Push, Ref: "main"})
	if got := statuses(res)["build"]; got != NotImplemented || res.Status != NotImplemented {
		t.Errorf("build %s, pipeline %s; want %s for skiff's exit code 3", got, res.Status, NotImplemented)
	}
}

func TestMissingArtifactFailsTheJob(t *testing.T) {
	res := runExample(t, &fakeRunner{}, Options{Event: pipeline.Push, Ref: "main"})
	for _, j := range res.Jobs {
		if j.Name == "build" && (j.Status != Failed || !strings.Contains(j.Reason, "did not write its artifact build.json")) {
			t.Errorf("build: %s (%s); a job that does not write its artifact fails", j.Status, j.Reason)
		}
	}
}

// A job gets the artifacts of the jobs it needs, as they wrote them, even
// when the working copy changed in between.
func TestArtifactsAreRestored(t *testing.T) {
	dir := t.TempDir()
	f := &fakeRunner{do: func(ctx context.Context, line string, c Cmd) error {
		if strings.HasPrefix(line, "skiff build") {
			return os.WriteFile(filepath.Join(c.Dir, "build.json"), []byte("from this pipeline"), 0o644)
		}
		if strings.HasPrefix(line, "skiff env deploy review") {
			data, err := os.ReadFile(filepath.Join(c.Dir, "build.json"))
			if err != nil || string(data) != "from this pipeline" {
				return fmt.Errorf("review saw build.json %q, %v", data, err)
			}
		}
		return nil
	}}
	overwrite := func(u Update) {
		if u.Job == "build:review" && u.Status == Passed {
			_ = os.WriteFile(filepath.Join(dir, "build.json"), []byte("changed meanwhile"), 0o644)
		}
	}
	res := runExample(t, f, Options{Event: pipeline.MergeRequest, Ref: "x", Dir: dir, Update: overwrite})
	for _, j := range res.Jobs {
		if j.Name == "review" && j.Status != Passed {
			log, _ := os.ReadFile(j.Log)
			t.Errorf("review %s: %s\n%s", j.Status, j.Reason, log)
		}
	}
}

func TestVariables(t *testing.T) {
	f := &fakeRunner{do: succeed}
	runExample(t, f, Options{
		Event: pipeline.Tag, Ref: "v1.2.0", Commit: "0123456789abcdef",
		Environ: []string{"PATH=/bin", "CI_MERGE_REQUEST_IID=99", "CI_COMMIT_TAG=v0.0.1", "HOME=/root"},
	})
	var build Cmd
	for _, c := range f.calls {
		if c.Args[1] == "build" {
			build = c
		}
	}
	if got := strings.Join(build.Args[1:], " "); got != "build -p production -t v1.2.0 --file-output build.json" {
		t.Errorf("build command %q", got)
	}
	want := map[string]string{
		"CI": "true", "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.2.0", "CI_COMMIT_REF_NAME": "v1.2.0",
		"CI_COMMIT_REF_SLUG": "v1-2-0", "CI_COMMIT_SHA": "0123456789abcdef", "CI_COMMIT_SHORT_SHA": "01234567",
		"CI_JOB_NAME": "build:release", "CI_MERGE_REQUEST_IID": "", "PATH": "/bin", "HOME": "/root",
	}
	for k, v := range want {
		if got := getenv(build.Env, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if n := strings.Count(strings.Join(build.Env, "\n"), "CI_COMMIT_TAG="); n != 1 {
		t.Errorf("CI_COMMIT_TAG set %d times", n)
	}
}

func TestParallelLimitAndRunIDs(t *testing.T) {
	dir := t.TempDir()
	f := &fakeRunner{do: func(ctx context.Context, line string, c Cmd) error {
		time.Sleep(20 * time.Millisecond)
		return succeed(ctx, line, c)
	}}
	first := runExample(t, f, Options{Event: pipeline.Push, Ref: "main", Dir: dir, Parallel: 1})
	if f.maxRunning != 1 {
		t.Errorf("%d commands ran at once with Parallel 1", f.maxRunning)
	}
	second := runExample(t, f, Options{Event: pipeline.Push, Ref: "main", Dir: dir})
	if first.ID != "1" || second.ID != "2" {
		t.Errorf("run ids %s, %s; want 1, 2", first.ID, second.ID)
	}
	if want := filepath.Join(dir, ".skiff", "pipelines", "2"); second.Dir != want {
		t.Errorf("logs in %s, want %s", second.Dir, want)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeRunner{do: func(ctx context.Context, line string, c Cmd) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}}
	res, err := Run(ctx, exampleGraph(t), Options{Event: pipeline.Push, Ref: "main", Dir: t.TempDir(), Runner: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range res.Jobs {
		if j.Status != Canceled {
			t.Errorf("%s: %s after the pipeline was interrupted", j.Name, j.Status)
		}
	}
	if res.Status != Canceled {
		t.Errorf("pipeline %s", res.Status)
	}
}

func TestUpdates(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]Status{}
	runExample(t, &fakeRunner{do: succeed}, Options{Event: pipeline.Push, Ref: "main", Update: func(u Update) {
		mu.Lock()
		defer mu.Unlock()
		seen[u.Job] = append(seen[u.Job], u.Status)
	}})
	if diff := cmp.Diff([]Status{Running, Passed}, seen["build"]); diff != "" {
		t.Errorf("updates of build (-want +got):\n%s", diff)
	}
}
