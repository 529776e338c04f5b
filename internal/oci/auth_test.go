package oci

import (
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestCIKeychain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		registry string
		want     *authn.AuthConfig // nil: anonymous
	}{
		{name: "GitLab registry user and password", registry: "registry.example.com:5050",
			env:  map[string]string{"GITLAB_CI": "true", "CI_REGISTRY": "registry.example.com:5050", "CI_REGISTRY_USER": "u", "CI_REGISTRY_PASSWORD": "p", "CI_JOB_TOKEN": "j"},
			want: &authn.AuthConfig{Username: "u", Password: "p"}},
		{name: "GitLab job token", registry: "registry.example.com",
			env:  map[string]string{"GITLAB_CI": "true", "CI_REGISTRY": "registry.example.com", "CI_JOB_TOKEN": "j"},
			want: &authn.AuthConfig{Username: "gitlab-ci-token", Password: "j"}},
		{name: "GitLab, another registry", registry: "other.example.com",
			env: map[string]string{"GITLAB_CI": "true", "CI_REGISTRY": "registry.example.com", "CI_JOB_TOKEN": "j"}},
		{name: "not in GitLab CI", registry: "registry.example.com",
			env: map[string]string{"CI_REGISTRY": "registry.example.com", "CI_JOB_TOKEN": "j"}},
		{name: "GitLab without a password or token", registry: "registry.example.com",
			env: map[string]string{"GITLAB_CI": "true", "CI_REGISTRY": "registry.example.com", "CI_REGISTRY_USER": "u"}},
		{name: "GitHub token for ghcr.io", registry: "ghcr.io",
			env:  map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "t", "GITHUB_ACTOR": "octo"},
			want: &authn.AuthConfig{Username: "octo", Password: "t"}},
		{name: "GitHub without an actor", registry: "ghcr.io",
			env:  map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "t"},
			want: &authn.AuthConfig{Username: "github-actions", Password: "t"}},
		{name: "GitHub token is for ghcr.io only", registry: "docker.io",
			env: map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "t"}},
		{name: "GitHub without a token", registry: "ghcr.io",
			env: map[string]string{"GITHUB_ACTIONS": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := CIKeychain(func(k string) string { return tc.env[k] })
			reg, err := name.NewRegistry(tc.registry)
			if err != nil {
				t.Fatal(err)
			}
			a, err := k.Resolve(reg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if a != authn.Anonymous {
					t.Errorf("want anonymous, got %+v", got)
				}
				return
			}
			if got.Username != tc.want.Username || got.Password != tc.want.Password {
				t.Errorf("got %s/%s, want %s/%s", got.Username, got.Password, tc.want.Username, tc.want.Password)
			}
		})
	}
}

// TestDockerConfigWins checks that an entry of the Docker configuration is
// used before the CI job's credentials.
func TestDockerConfigWins(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	writeFile(t, dir+"/config.json", `{"auths":{"registry.example.com":{"auth":"ZXhwbGljaXQ6c2VjcmV0"}}}`) // explicit:secret
	env := map[string]string{"GITLAB_CI": "true", "CI_REGISTRY": "registry.example.com", "CI_JOB_TOKEN": "j"}
	k := Keychain(func(k string) string { return env[k] })
	reg, _ := name.NewRegistry("registry.example.com")
	a, err := k.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := a.Authorization()
	if got.Username != "explicit" || got.Password != "secret" {
		t.Errorf("got %s/%s, want the Docker config's explicit/secret", got.Username, got.Password)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
