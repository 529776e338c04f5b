package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/skiff-dev/skiff/internal/config"
)

// load loads the project in dir (relative to this package).
func load(t *testing.T, dir string) *config.Project {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := config.Load(config.LoadOptions{WorkDir: abs, Activation: config.ActivationContext{Env: map[string]string{}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func names(jobs []*Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}

func TestExampleGraph(t *testing.T) {
	g, err := FromProject(load(t, "../../examples/myapp"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[Event][]string{
		MergeRequest: {"unit", "integration", "functional", "build:review", "review", "stop_review"},
		Tag:          {"unit", "integration", "functional", "build:release", "release", "staging", "production"},
		Push:         {"unit", "integration", "functional", "build"},
		Schedule:     {"gc", "cleanup"},
	}
	for e, w := range want {
		if diff := cmp.Diff(w, names(g.For(e))); diff != "" {
			t.Errorf("%s jobs (-want +got):\n%s", e, diff)
		}
	}
	cmds := map[string]string{
		"unit":          "skiff pipeline test unit",
		"build:review":  "skiff build -p development --file-output build.json",
		"build:release": `skiff build -p production -t "$CI_COMMIT_TAG" --file-output build.json`,
		"review":        `skiff env deploy review --ref "$CI_COMMIT_REF_NAME" -a build.json --dotenv deploy.env`,
		"stop_review":   `skiff env stop review --ref "$CI_COMMIT_REF_NAME" --app myapp`,
		"release":       `skiff release create --tag "$CI_COMMIT_TAG" -a build.json --changelog-output release-notes.md --dotenv release.env`,
		"staging":       `skiff env deploy staging --release "$SKIFF_RELEASE" --dotenv deploy.env`,
		"production":    `skiff env deploy production --release "$SKIFF_RELEASE" --approve --dotenv deploy.env`,
		"gc":            "skiff env gc",
		"cleanup":       "skiff cleanup --registry",
	}
	for job, want := range cmds {
		j := g.Job(job)
		if j == nil || len(j.Script) != 1 || j.Script[0].String() != want {
			t.Errorf("job %s: script %v, want [%s]", job, j.Script, want)
		}
	}
	if c := g.Job("cleanup"); c == nil || !c.FullHistory || !slices.Equal(c.Needs, []string{"gc"}) {
		t.Errorf("cleanup = %+v: want it after gc, with the whole git history", c)
	}
	prod, _ := g.Job("production").Rule(Tag)
	if prod.When != Manual || prod.AllowFailure {
		t.Errorf("production rule = %+v, want a blocking manual gate", prod)
	}
	stop := g.Job("stop_review")
	if r, _ := stop.Rule(MergeRequest); r.When != Manual || !r.AllowFailure || !stop.NoCheckout || stop.Environment.Action != Stop {
		t.Errorf("stop_review = %+v (rule %+v): want an optional manual stop job without checkout", stop, r)
	}
	review := g.Job("review")
	if e := review.Environment; e.OnStop != "stop_review" || e.AutoStopIn != 72*time.Hour || e.Tier != "development" || !e.Dynamic {
		t.Errorf("review environment = %+v", e)
	}
	if review.ResourceGroup != "review/$CI_COMMIT_REF_NAME" || g.Job("production").ResourceGroup != "production" {
		t.Errorf("resource groups: review %q, production %q", review.ResourceGroup, g.Job("production").ResourceGroup)
	}
	if g.TagFilter != "v*" {
		t.Errorf("TagFilter = %q, want production's requireTag v*", g.TagFilter)
	}
}

func TestCustomGraph(t *testing.T) {
	g, err := FromProject(load(t, "testdata/projects/custom"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"lint", "go_test", "build:release", "release", "prod"}, names(g.For(Tag))); diff != "" {
		t.Errorf("tag jobs without staging (-want +got):\n%s", diff)
	}
	if got := g.Job("prod").Needs; len(got) != 1 || got[0] != "release" {
		t.Errorf("prod needs %v, want [release] when there is no staging", got)
	}
	if got, want := g.Job("stop_qa").Script[0].String(), `skiff env stop qa --ref "$CI_COMMIT_REF_NAME" --app shop --kube-context group/project:agent`; got != want {
		t.Errorf("stop job = %s, want %s", got, want)
	}
	if got := g.Job("build:review").Script[0].String(); got != "skiff build -p dev,debug --file-output build.json" {
		t.Errorf("review build = %s", got)
	}
	if g.TagFilter != "" {
		t.Errorf("TagFilter = %q; a semver range is not a glob", g.TagFilter)
	}
	if g.Job("lint").Image != "golangci/golangci-lint:v2" {
		t.Errorf("lint image = %q", g.Job("lint").Image)
	}
}

func TestMinimalGraph(t *testing.T) {
	g, err := FromProject(load(t, "testdata/projects/minimal"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[Event][]string{}
	for _, e := range Events {
		got[e] = names(g.For(e))
	}
	want := map[Event][]string{
		MergeRequest: {"build:review"},
		Tag:          {"build:release"},
		Push:         {"build"},
		Schedule:     nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("a plain Skaffold project's jobs (-want +got):\n%s", diff)
	}
}

func TestPipelineSectionErrors(t *testing.T) {
	envs := `environments:
  - name: review
    dynamic: true
  - name: staging
  - name: production
`
	tests := []struct {
		name, pipeline, want string
	}{
		{"unknown review", "  review: qa\n", `skiff.yaml:11:11: pipeline.review: environment "qa" is not defined`},
		{"static review", "  review: staging\n", `pipeline.review: environment "staging" is not dynamic`},
		{"dynamic production", "  production: review\n", `pipeline.production: environment "review" is dynamic`},
		{"same staging and production", "  staging: production\n", `staging and production are both environment "production"`},
		{"bad test name", "  tests:\n    - name: unit tests\n      command: x\n", `skiff.yaml:12:13: pipeline.tests[0].name: "unit tests" cannot name a CI job`},
		{"keyword test name", "  tests:\n    - name: variables\n      command: x\n", `"variables" is a GitLab keyword`},
		{"colliding test name", "  tests:\n    - name: staging\n      command: x\n", `"staging" is also the name of a pipeline job`},
		{"duplicate test", "  tests:\n    - name: a\n      command: x\n    - name: a\n      command: y\n", `pipeline.tests[1].name: test suite "a" is defined twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			doc := "apiVersion: skiff/v1\nkind: Config\nmetadata:\n  name: app\n" + envs + "pipeline:\n" + tt.pipeline
			if err := os.WriteFile(filepath.Join(dir, "skiff.yaml"), []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := FromProject(load(t, dir))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEnvironmentNamedLikeAJob(t *testing.T) {
	dir := t.TempDir()
	doc := "apiVersion: skiff/v1\nkind: Config\nenvironments:\n  - name: release\n"
	if err := os.WriteFile(filepath.Join(dir, "skiff.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := FromProject(load(t, dir))
	if err != nil {
		t.Fatalf("an environment that is not staging or production plays no role: %v", err)
	}
	doc = "apiVersion: skiff/v1\nkind: Config\nenvironments:\n  - name: release\npipeline:\n  production: release\n"
	if err := os.WriteFile(filepath.Join(dir, "skiff.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FromProject(load(t, dir)); err == nil || !strings.Contains(err.Error(), `environment "release" cannot name a pipeline job`) {
		t.Errorf("error = %v", err)
	}
}

func TestCheck(t *testing.T) {
	job := func(name, stage string, needs []string, on ...Event) *Job {
		j := &Job{Name: name, Stage: stage, Needs: needs, Script: []Command{{"skiff", "version"}}}
		for _, e := range on {
			j.Rules = append(j.Rules, Rule{On: e})
		}
		return j
	}
	tests := []struct {
		name string
		jobs []*Job
		want string
	}{
		{"ok", []*Job{job("a", "test", nil, Tag), job("b", "build", []string{"a"}, Tag)}, ""},
		{"need missing in an event", []*Job{job("a", "test", nil, Tag), job("b", "build", []string{"a"}, Tag, Push)}, `job "b" needs "a", which does not run for push pipelines`},
		{"unknown need", []*Job{job("b", "build", []string{"x"}, Tag)}, `needs "x", which does not exist`},
		{"later stage", []*Job{job("a", "build", []string{"b"}, Tag), job("b", "review", nil, Tag)}, "of a later stage"},
		{"cycle", []*Job{job("a", "test", []string{"b"}, Tag), job("b", "test", []string{"a"}, Tag)}, "cycle"},
		{"duplicate", []*Job{job("a", "test", nil, Tag), job("a", "test", nil, Tag)}, "defined twice"},
		{"not skiff", []*Job{{Name: "a", Stage: "test", Script: []Command{{"make", "test"}}}}, "does not call skiff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Graph{Stages: Stages, Jobs: tt.jobs}).Check()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Check() = %v, want %q", err, tt.want)
			}
		})
	}
}
