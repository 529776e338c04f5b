package github

import (
	"flag"
	"github.com/skiff-dev/skiff/internal/pipeline/pipelinetest"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rhysd/actionlint"
	"github.com/skiff-dev/skiff/internal/pipeline"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var projects = []struct{ name, dir string }{
	{"myapp", "../../../examples/myapp"},
	{"custom", "../testdata/projects/custom"},
	{"minimal", "../testdata/projects/minimal"},
}

func generate(t *testing.T, dir string) []pipeline.File {
	t.Helper()
	p, g := pipelinetest.Graph(t, dir)
	files, err := Generate(g, Options{Source: p.File})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestGolden(t *testing.T) {
	for _, p := range projects {
		t.Run(p.name, func(t *testing.T) {
			dir := filepath.Join("testdata", p.name)
			files := generate(t, p.dir)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, f := range files {
					if err := os.WriteFile(filepath.Join(dir, f.Path), f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatalf("%v; run go test ./internal/pipeline/github -update", err)
			}
			want := map[string]string{}
			for _, e := range entries {
				data, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				want[e.Name()] = string(data)
			}
			got := map[string]string{}
			for _, f := range files {
				got[f.Path] = string(f.Data)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("workflows differ from %s (-golden +generated); run go test ./internal/pipeline/github -update:\n%s", dir, diff)
			}
		})
	}
}

// Every workflow passes actionlint: the workflow schema, expressions and
// their contexts, job needs, and untrusted input in scripts.
func TestActionlint(t *testing.T) {
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range projects {
		for _, f := range generate(t, p.dir) {
			errs, err := linter.Lint(p.name+"/"+f.Path, f.Data, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				t.Errorf("actionlint: %s", e.Error())
			}
		}
	}
}

// parsedWorkflow is the part of a workflow file the tests look at.
type parsedWorkflow struct {
	On   map[string]any `yaml:"on"`
	Env  map[string]string
	Jobs map[string]struct {
		If          string
		Needs       []string
		Environment struct {
			Name string
			URL  string
		}
		Steps []struct {
			Uses string
			Run  string
		}
	}
}

func parse(t *testing.T, files []pipeline.File) map[string]parsedWorkflow {
	t.Helper()
	out := map[string]parsedWorkflow{}
	for _, f := range files {
		var w parsedWorkflow
		if err := yaml.Unmarshal(f.Data, &w); err != nil {
			t.Fatalf("%s does not parse: %v", f.Path, err)
		}
		out[f.Path] = w
	}
	return out
}

func TestPullRequestWorkflow(t *testing.T) {
	w := parse(t, generate(t, "../../../examples/myapp"))["skiff-pull-request.yml"]
	if _, ok := w.On["pull_request"]; !ok {
		t.Fatalf("on = %v, want pull_request", w.On)
	}
	stop := w.Jobs["stop_review"]
	if stop.If != "github.event.action == 'closed'" || len(stop.Needs) != 0 {
		t.Errorf("cleanup job: if %q, needs %v; want it to run alone when the pull request closes", stop.If, stop.Needs)
	}
	for _, s := range stop.Steps {
		if s.Uses != "" {
			t.Errorf("cleanup job uses %s; it must work without a checkout", s.Uses)
		}
	}
	if got := w.Jobs["review"].Environment.Name; got != "review/pr-${{ github.event.pull_request.number }}" {
		t.Errorf("review environment = %q", got)
	}
	// The URL GitHub shows is the one skiff deployed: the deploy step's
	// SKIFF_URL output.
	if got := w.Jobs["review"].Environment.URL; got != "${{ steps.deploy.outputs.SKIFF_URL }}" {
		t.Errorf("review environment url = %q, want the deploy step's output", got)
	}
	if w.Env["CI_COMMIT_REF_NAME"] != "${{ github.head_ref }}" || w.Env["CI_MERGE_REQUEST_IID"] == "" {
		t.Errorf("workflow env = %v: the commands need CI_COMMIT_REF_NAME and CI_MERGE_REQUEST_IID", w.Env)
	}
	var steps []string
	for _, s := range w.Jobs["review"].Steps {
		steps = append(steps, s.Uses+s.Run)
	}
	want := []string{"actions/checkout@v4", "actions/download-artifact@v4", "skiff env deploy review --ref \"$CI_COMMIT_REF_NAME\" -a build.json --dotenv deploy.env\ncat deploy.env >> \"$GITHUB_OUTPUT\""}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("review steps (-want +got):\n%s", diff)
	}
}

func TestTagWorkflow(t *testing.T) {
	w := parse(t, generate(t, "../../../examples/myapp"))["skiff-tag.yml"]
	push, _ := w.On["push"].(map[string]any)
	if tags, _ := push["tags"].([]any); len(tags) != 1 || tags[0] != "v*" {
		t.Errorf("on.push = %v, want tags [v*] from production's requireTag", push)
	}
	prod := w.Jobs["production"]
	if prod.Environment.Name != "production" || len(prod.Needs) != 1 || prod.Needs[0] != "staging" {
		t.Errorf("production job = %+v", prod)
	}
	if last := prod.Steps[len(prod.Steps)-1].Run; !strings.Contains(last, "--approve") {
		t.Errorf("production runs %q; the protected environment is the approval", last)
	}
}
