package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestSettingsPrecedence: settings several modules set merge with the one
// rule settings.go and the README state — load order (required before
// requiring, documents in file order), the last module that sets a value
// wins, registry lists are unions.
func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("base/skaffold.yaml", `apiVersion: skaffold/v4beta11
kind: Config
metadata: {name: base}
build:
  insecureRegistries: [base.test:5000, shared.test]
  local: {push: false, concurrency: 2}
deploy:
  kubeContext: base-context
  statusCheckDeadlineSeconds: 60
  kubectl: {defaultNamespace: base-ns}
`)
	write("skaffold.yaml", `apiVersion: skaffold/v4beta11
kind: Config
metadata: {name: first}
requires:
  - path: base
build:
  insecureRegistries: [shared.test, first.test]
  local: {concurrency: 4}
deploy:
  kubeContext: first-context
  kubectl: {}
---
apiVersion: skaffold/v4beta11
kind: Config
metadata: {name: root}
deploy:
  statusCheckDeadlineSeconds: 120
  kubectl: {defaultNamespace: root-ns}
`)
	p, err := Load(LoadOptions{WorkDir: dir, Activation: ActivationContext{Env: map[string]string{}}})
	if err != nil {
		t.Fatal(err)
	}
	d := p.DeploySettings()
	// first sets kubeContext after base; root leaves it unset.
	if d.KubeContext != "first-context" || d.DeadlineSeconds != 120 || d.Namespace != "root-ns" {
		t.Errorf("deploy settings %+v: want kubeContext first-context, deadline 120, namespace root-ns", d)
	}
	b := p.BuildSettings()
	if b.Push == nil || *b.Push || b.Concurrency == nil || *b.Concurrency != 4 {
		t.Errorf("build settings push %v concurrency %v: want push false (only base sets it), concurrency 4", b.Push, b.Concurrency)
	}
	if got, want := p.InsecureRegistries(), []string{"base.test:5000", "shared.test", "first.test"}; !slices.Equal(got, want) {
		t.Errorf("insecure registries %v, want the union %v", got, want)
	}
}
