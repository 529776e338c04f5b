package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSatisfies(t *testing.T) {
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{"true", "true", true},
		{"true", "false", false},
		{"!true", "false", true},
		{"!true", "true", false},
		{"prod", "production", true}, // a regexp found in the value, as Skaffold does
		{"^prod$", "production", false},
		{"gke_.*", "gke_proj_zone_c", true},
		{"group/project:agent", "group/project:agent", true},
	}
	for _, tt := range tests {
		got, err := satisfies(tt.pattern, tt.value)
		if err != nil || got != tt.want {
			t.Errorf("satisfies(%q, %q) = %v, %v; want %v", tt.pattern, tt.value, got, err, tt.want)
		}
	}
	if _, err := satisfies("((", "x"); err == nil {
		t.Error("an invalid regexp must be an error")
	}
}

func TestActivationEnvEmptyPattern(t *testing.T) {
	p := Profile{Name: "p", Activation: []Activation{{Env: "TOKEN="}}}
	on, _ := autoActivated(p, ActivationContext{Env: map[string]string{}})
	if !on {
		t.Error("KEY= must match an unset variable")
	}
	on, _ = autoActivated(p, ActivationContext{Env: map[string]string{"TOKEN": "x"}})
	if on {
		t.Error("KEY= must not match a set variable")
	}
}

func TestActivatedProfilesOrder(t *testing.T) {
	profiles := []Profile{
		{Name: "a", Activation: []Activation{{Command: "dev"}}},
		{Name: "b"},
		{Name: "c", Activation: []Activation{{Command: "dev"}}},
	}
	got, err := activatedProfiles(profiles, []string{"b", "-c", "a"}, ActivationContext{Command: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("activated = %v, want [a b]: auto-activated first, then named, -c removed", got)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "36h": 36 * time.Hour, "3d": 72 * time.Hour, "2w": 14 * 24 * time.Hour} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "three days", "-1h", "d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) must fail", bad)
		}
	}
}

func TestExpandTemplate(t *testing.T) {
	vars := map[string]string{"A": "1", "EMPTY": ""}
	tests := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"v{{.A}}", "v1", ""},
		{`{{default "x" (env "MISSING")}}`, "x", ""},
		{`{{default "x" .EMPTY}}`, "x", ""},
		{"{{.MISSING}}", "", "environment variable MISSING, which is not set"},
		{"{{.A", "", "invalid template"},
	}
	for _, tt := range tests {
		got, err := ExpandTemplate(tt.in, vars)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ExpandTemplate(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ExpandTemplate(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzLoad feeds arbitrary bytes to the loader: it must return a config or
// an error, never panic.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("testdata", "projects", "*", "*.yaml"))
	for _, s := range append(seeds, more...) {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data, "p")
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, profile string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "skaffold.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(LoadOptions{WorkDir: dir, Profiles: []string{profile}, Activation: ActivationContext{Env: map[string]string{}}})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error: %q", err)
			}
			return
		}
		if _, err := p.EffectiveYAML(); err != nil {
			t.Errorf("effective YAML of a loaded config: %v", err)
		}
	})
}
