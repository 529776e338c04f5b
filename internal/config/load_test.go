package config

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestEffectiveConfig(t *testing.T) {
	tests := []struct {
		name     string
		dir      string
		file     string
		profiles []string
		modules  []string
		env      map[string]string
		command  string
		kubeCtx  string
	}{
		{name: "workflow-default", dir: "workflow", file: "deploy/skaffold.yaml", env: map[string]string{"APP_VERSION": "1.0", "USER_NS": "dev"}},
		{name: "workflow-production", dir: "workflow", file: "deploy/skaffold.yaml", profiles: []string{"production"}, env: map[string]string{"APP_VERSION": "1.0", "USER_NS": "dev"}},
		{name: "workflow-ci-auto", dir: "workflow", file: "deploy/skaffold.yaml", profiles: []string{"production"}, env: map[string]string{"CI": "true", "CI_COMMIT_SHORT_SHA": "abc123", "APP_VERSION": "1.0", "USER_NS": "x"}},
		{name: "workflow-ci-deactivated", dir: "workflow", file: "deploy/skaffold.yaml", profiles: []string{"production,-ci"}, env: map[string]string{"CI": "true", "APP_VERSION": "1.0", "USER_NS": "x"}},
		{name: "requires-default", dir: "requires"},
		{name: "requires-production", dir: "requires", profiles: []string{"production"}},
		{name: "requires-module-api", dir: "requires", modules: []string{"api"}},
		{name: "skiffref-development", dir: "skiffref", profiles: []string{"development"}},
		{name: "skiffref-production", dir: "skiffref", profiles: []string{"production"}},
		{name: "activation-none", dir: "activation", env: map[string]string{"CI": "true"}, command: "build", kubeCtx: "kind-x"},
		{name: "activation-minikube-dev", dir: "activation", env: map[string]string{"CI": "true"}, command: "dev", kubeCtx: "minikube"},
		{name: "activation-not-ci", dir: "activation", env: map[string]string{}, command: "build"},
		{name: "activation-all-required", dir: "activation", env: map[string]string{"CI": "true", "STAGE": "prod"}, command: "build", kubeCtx: "gke_proj_zone_c"},
		{name: "activation-one-of-all-missing", dir: "activation", env: map[string]string{"CI": "true", "STAGE": "prod"}, command: "build", kubeCtx: "kind"},
		{name: "activation-env-and-command", dir: "activation", env: map[string]string{"CI": "true", "REGION": "eu-west-1"}, command: "run"},
		{name: "patches", dir: "patches", profiles: []string{"patched"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if env == nil {
				env = map[string]string{}
			}
			p, err := Load(LoadOptions{
				Filename:   tt.file,
				WorkDir:    filepath.Join("testdata", "projects", tt.dir),
				Profiles:   tt.profiles,
				Modules:    tt.modules,
				Activation: ActivationContext{Command: tt.command, KubeContext: tt.kubeCtx, Env: env},
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.EffectiveYAML()
			if err != nil {
				t.Fatal(err)
			}
			var applied []string
			for _, ap := range p.Profiles {
				applied = append(applied, ap.Module+"/"+ap.Profile)
			}
			got = append([]byte("# profiles: "+strings.Join(applied, ", ")+"\n"), got...)
			golden := filepath.Join("testdata", "golden", tt.name+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("effective config (-want +got):\n%s", d)
			}
			// Loading twice gives the same bytes.
			p2, _ := Load(LoadOptions{Filename: tt.file, WorkDir: filepath.Join("testdata", "projects", tt.dir), Profiles: tt.profiles, Modules: tt.modules, Activation: ActivationContext{Command: tt.command, KubeContext: tt.kubeCtx, Env: env}})
			again, _ := p2.EffectiveYAML()
			if string(again) != string(got[len("# profiles: "+strings.Join(applied, ", ")+"\n"):]) {
				t.Error("effective config is not deterministic")
			}
		})
	}
}

func TestProjectAccessors(t *testing.T) {
	p, err := Load(LoadOptions{WorkDir: filepath.Join("testdata", "projects", "skiffref"), Activation: ActivationContext{Env: map[string]string{}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "shop" {
		t.Errorf("Name() = %q, want shop", p.Name())
	}
	if p.File != "skiff.yaml" {
		t.Errorf("File = %q, want skiff.yaml (found before skaffold.yaml)", p.File)
	}
	env, err := p.Environment("production")
	if err != nil {
		t.Fatal(err)
	}
	if !env.Protected || env.RequireTag != "v*" || !env.ImmutableNamespace {
		t.Errorf("production = %+v", env)
	}
	if _, err := p.Environment("qa"); err == nil || !strings.Contains(err.Error(), "review, production") {
		t.Errorf("unknown environment error = %v", err)
	}
	if got := len(p.Artifacts()); got != 1 {
		t.Errorf("%d artifacts, want 1", got)
	}
}

// TestBrokenConfigs loads each file of testdata/broken; its first line says
// "# want: <text>" and the error must be one positioned line containing it.
func TestBrokenConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("only %d broken configs; the corpus needs at least 15", len(files))
	}
	positioned := regexp.MustCompile(`^[^:\s]+\.yaml:\d+(:\d+)?: `)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			header := strings.SplitN(string(data), "\n", 3)
			want, ok := strings.CutPrefix(header[0], "# want: ")
			if !ok {
				t.Fatalf("first line must be '# want: <text>'")
			}
			var profiles []string
			if p, ok := strings.CutPrefix(header[1], "# profiles: "); ok {
				profiles = strings.Split(p, ",")
			}
			_, err = Load(LoadOptions{Filename: filepath.Base(f), WorkDir: filepath.Dir(f), Profiles: profiles, Activation: ActivationContext{Env: map[string]string{}}})
			if err == nil {
				t.Fatalf("no error, want %q", want)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
			if !positioned.MatchString(msg) {
				t.Errorf("error %q does not start with file:line", msg)
			}
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not contain %q", msg, want)
			}
		})
	}
}
