package config

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// loadSkaffold loads testdata/skaffold/<dir> with the given environment and
// profiles.
func loadSkaffold(t *testing.T, dir string, env map[string]string, profiles ...string) (*Project, error) {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	return Load(LoadOptions{WorkDir: filepath.Join("testdata", "skaffold", dir), Profiles: profiles, Activation: ActivationContext{Command: "render", Env: env}})
}

func mustLoadSkaffold(t *testing.T, dir string, env map[string]string, profiles ...string) *Project {
	t.Helper()
	p, err := loadSkaffold(t, dir, env, profiles...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultManifests(t *testing.T) {
	p := mustLoadSkaffold(t, "default-manifests", nil)
	if got := p.Configs[0].Render.RawK8s; !slices.Equal(got, []string{"k8s/*.yaml"}) {
		t.Errorf("rawYaml = %q, want Skaffold's default [k8s/*.yaml]", got)
	}
	out, err := p.EffectiveYAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "rawYaml") {
		t.Errorf("the effective configuration shows the default, which Skaffold's does not:\n%s", out)
	}
	for _, dir := range []string{"two-configs", "no-k8s"} {
		p := mustLoadSkaffold(t, dir, nil)
		for _, c := range p.Configs {
			if len(c.Render.RawK8s) != 0 {
				t.Errorf("%s: module %s got default manifests %q", dir, c.Metadata.Name, c.Render.RawK8s)
			}
		}
	}
}

func TestEnvFile(t *testing.T) {
	p := mustLoadSkaffold(t, "envfile", map[string]string{"OVERRIDDEN": "from-env"})
	r := p.Configs[0].Render.Helm.Releases[0]
	if r.Name != "shop-web" || r.Namespace != "shop" {
		t.Errorf("release %q in %q: skaffold.env was not read before templates", r.Name, r.Namespace)
	}
	if got := r.SetValues["origin"]; got != "from-env" {
		t.Errorf("origin = %q: the environment must win over skaffold.env", got)
	}
	if len(p.Profiles) != 1 || p.Profiles[0].Profile != "from-file" {
		t.Errorf("profiles %v: activation must see skaffold.env's variables", p.Profiles)
	}
	want := map[string]string{"APP_NAMESPACE": "shop", "RELEASE_NAME": "shop-web"}
	if d := cmp.Diff(want, p.EnvFile); d != "" {
		t.Errorf("EnvFile (-want +got):\n%s", d)
	}
}

func TestUnsupportedOnlyInActiveProfiles(t *testing.T) {
	p, err := loadSkaffold(t, "inactive-profile", nil)
	if err != nil {
		t.Fatalf("inactive profiles must not be checked for unsupported fields: %v", err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings %q: build.cluster is read (cluster builds), not ignored", p.Warnings)
	}
	if c := p.BuildSettings().Cluster; c == nil || c.Namespace != "builds" {
		t.Errorf("build.cluster = %+v, want namespace builds", c)
	}
	tests := []struct {
		profile string
		env     map[string]string
		want    string
	}{
		{"gcb", nil, "skaffold.yaml:13:7: profiles[0].build.googleCloudBuild: not supported by skiff: Google Cloud Build"},
		{"hooked", nil, "skaffold.yaml:17:7: profiles[1].build.hooks: not supported by skiff"},
		{"", map[string]string{"CI": "true"}, "skaffold.yaml:24:7: profiles[2].build.googleCloudBuild: not supported by skiff"},
	}
	for _, tt := range tests {
		var profiles []string
		if tt.profile != "" {
			profiles = []string{tt.profile}
		}
		_, err := loadSkaffold(t, "inactive-profile", tt.env, profiles...)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("profile %q env %v: error %v, want %q", tt.profile, tt.env, err, tt.want)
		}
	}
}

func TestHelmReleaseDedupe(t *testing.T) {
	p := mustLoadSkaffold(t, "helm-dedupe", nil)
	c := p.Configs[0]
	var legacy []string
	for _, r := range c.Deploy.LegacyHelmDeploy.Releases {
		legacy = append(legacy, r.Name)
	}
	if !slices.Equal(legacy, []string{"jobs"}) {
		t.Errorf("deploy.helm releases rendered = %v, want [jobs]: web is manifests.helm's", legacy)
	}
	if got := c.Render.Helm.Releases[0].SetValues["from"]; got != "manifests" {
		t.Errorf("kept web release from %q, want manifests", got)
	}
}

func TestSameFileRequires(t *testing.T) {
	p := mustLoadSkaffold(t, "same-file-requires", nil)
	var names []string
	for _, c := range p.Configs {
		names = append(names, c.Metadata.Name)
	}
	if !slices.Equal(names, []string{"base", "app"}) {
		t.Errorf("modules %v, want [base app]: a required config comes first", names)
	}
	p, err := Load(LoadOptions{WorkDir: filepath.Join("testdata", "skaffold", "same-file-requires"), Modules: []string{"app"}, Activation: ActivationContext{Env: map[string]string{}}})
	if err != nil || len(p.Configs) != 2 {
		t.Errorf("-m app must keep what app requires from the same file: %v", err)
	}
}

func TestArtifactCycleHasPosition(t *testing.T) {
	_, err := loadSkaffold(t, "artifact-cycle", nil)
	want := "skaffold.yaml:13:18: build.artifacts[2].requires[0].image: artifacts require each other in a cycle: a → b → c → a"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}
