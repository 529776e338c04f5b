package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParityEffective loads each project of testdata/parity/effective and
// compares its effective configuration (what skiff diagnose --yaml-only
// prints) with effective.yaml.
func TestParityEffective(t *testing.T) {
	root, err := filepath.Abs("../../testdata/parity/effective")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		t.Run(d.Name(), func(t *testing.T) {
			dir := filepath.Join(root, d.Name())
			t.Chdir(dir)
			p, err := Load(LoadOptions{WorkDir: dir, Activation: ActivationContext{Env: map[string]string{}}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.EffectiveYAML()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(dir, "effective.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("effective configuration differs (-want +got; go test -update rewrites it):\n%s", diff)
			}
		})
	}
}
