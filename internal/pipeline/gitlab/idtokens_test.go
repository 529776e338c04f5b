package gitlab

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// A deploy job of an environment that logs in to Vault with GitLab's JWT
// requests id_tokens: VAULT_ID_TOKEN with the configured audience (the
// Vault address when none is configured); jobs that deploy nothing, and
// environments with other methods, request none.
func TestVaultJWTJobsRequestIDTokens(t *testing.T) {
	dir := t.TempDir()
	conf := `apiVersion: skiff/v1
kind: Config
metadata: {name: shop}
manifests:
  rawYaml: [k8s/*.yaml]
environments:
  - name: review
    dynamic: true
    vault:
      address: https://vault.example.com
      auth: {method: jwt, role: review}
  - name: staging
    vault:
      auth: {method: token}
  - name: production
    protected: true
    vault:
      address: https://vault.example.com
      auth: {method: jwt, role: deploy, audience: skiff-production}
`
	if err := os.WriteFile(filepath.Join(dir, "skiff.yaml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(generate(t, dir), &doc); err != nil {
		t.Fatal(err)
	}
	aud := func(job string) any {
		j, _ := doc[job].(map[string]any)
		tokens, ok := j["id_tokens"].(map[string]any)
		if !ok {
			return nil
		}
		if len(tokens) != 1 {
			t.Errorf("%s: id_tokens %v, want only VAULT_ID_TOKEN", job, tokens)
		}
		tok, _ := tokens["VAULT_ID_TOKEN"].(map[string]any)
		return tok["aud"]
	}
	for job, want := range map[string]any{"review": "https://vault.example.com", "production": "skiff-production", "staging": nil, "stop_review": nil, "release": nil} {
		if _, ok := doc[job]; !ok {
			t.Fatalf("no job %s in the pipeline", job)
		}
		if got := aud(job); got != want {
			t.Errorf("%s: id_tokens VAULT_ID_TOKEN aud = %v, want %v", job, got, want)
		}
	}
}
