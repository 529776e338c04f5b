package gitlab

import (
	"bytes"
	"flag"
	"github.com/skiff-dev/skiff/internal/pipeline/pipelinetest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files (including examples/myapp/.gitlab-ci.yml)")

// projects are the configurations whose output is kept: the example's
// .gitlab-ci.yml is checked in next to it, the others are test fixtures.
var projects = []struct {
	name, dir, golden string
}{
	{"myapp", "../../../examples/myapp", "../../../examples/myapp/.gitlab-ci.yml"},
	{"custom", "../testdata/projects/custom", "testdata/custom.gitlab-ci.yml"},
	{"minimal", "../testdata/projects/minimal", "testdata/minimal.gitlab-ci.yml"},
}

func generate(t *testing.T, dir string) []byte {
	t.Helper()
	p, g := pipelinetest.Graph(t, dir)
	out, err := Generate(g, Options{Source: p.File})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, p := range projects {
		t.Run(p.name, func(t *testing.T) {
			got := generate(t, p.dir)
			if *update {
				if err := os.WriteFile(p.golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(p.golden)
			if err != nil {
				t.Fatalf("%v; run go test ./internal/pipeline/gitlab -update", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s is not what skiff ci gitlab generates (-file +generated); run go test ./internal/pipeline/gitlab -update:\n%s", p.golden, diff)
			}
			if !bytes.Equal(generate(t, p.dir), got) {
				t.Error("two generations differ: the output is not deterministic")
			}
		})
	}
}

// The stop job of a review environment must be able to run after the
// branch is gone: no checkout, everything on the command line.
func TestStopJobWithoutCheckout(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(generate(t, "../testdata/projects/custom"), &doc); err != nil {
		t.Fatal(err)
	}
	stop := doc["stop_qa"].(map[string]any)
	if v := stop["variables"].(map[string]any)["GIT_STRATEGY"]; v != "none" {
		t.Errorf("GIT_STRATEGY = %v, want none", v)
	}
	script := stop["script"].([]any)[0].(string)
	for _, want := range []string{"--app shop", "--kube-context group/project:agent", `--ref "$CI_COMMIT_REF_NAME"`} {
		if !strings.Contains(script, want) {
			t.Errorf("stop script %q lacks %s", script, want)
		}
	}
	job := doc["qa"].(map[string]any)
	review := job["environment"].(map[string]any)
	// The URL is the one skiff deployed, from the job's dotenv report.
	if review["on_stop"] != "stop_qa" || review["auto_stop_in"] != "36 hours" || review["url"] != "$SKIFF_URL" || review["name"] != "qa/$CI_COMMIT_REF_NAME" {
		t.Errorf("review environment = %v", review)
	}
	if d := job["artifacts"].(map[string]any)["reports"].(map[string]any)["dotenv"]; d != "deploy.env" || !strings.Contains(job["script"].([]any)[0].(string), "--dotenv deploy.env") {
		t.Errorf("review job: dotenv report %v, script %v; want the deploy's --dotenv file", d, job["script"])
	}
	if stop["environment"].(map[string]any)["name"] != review["name"] || stop["resource_group"] != job["resource_group"] {
		t.Errorf("stop job environment %v / group %v differ from the review job's %v / %v", stop["environment"], stop["resource_group"], review["name"], job["resource_group"])
	}
}
