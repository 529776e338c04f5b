package upgrade

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-dev/skiff/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/parity/fix")

const corpus = "../../../testdata/parity/fix"

// TestCorpus upgrades each project of the parity corpus and compares the
// result (and its warnings) with the golden files; the upgraded file must
// then load in skiff unchanged.
func TestCorpus(t *testing.T) {
	dirs, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		t.Run(d.Name(), func(t *testing.T) {
			dir := filepath.Join(corpus, d.Name())
			in, err := os.ReadFile(filepath.Join(dir, "skaffold.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			out, res, err := Upgrade(in, "skaffold.yaml")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, "want.yaml"), string(out))
			golden(t, filepath.Join(dir, "warnings.txt"), strings.Join(res.Warnings, "\n"))
			if !res.Changed && string(out) != string(in) {
				t.Errorf("a file with nothing to upgrade was changed")
			}
			wd := t.TempDir()
			if err := os.WriteFile(filepath.Join(wd, "skaffold.yaml"), out, 0o644); err != nil {
				t.Fatal(err)
			}
			// skiff checks the whole document against Skaffold's schema
			// before it rejects what it does not support, so a "not
			// supported by skiff" error still means valid v4beta13.
			_, err = config.Load(config.LoadOptions{WorkDir: wd, Activation: config.ActivationContext{Env: map[string]string{}}})
			if err != nil && !strings.Contains(err.Error(), "not supported by skiff") {
				t.Fatalf("the upgraded file does not load: %v", err)
			}
			// Upgrading twice changes nothing.
			again, res2, err := Upgrade(out, "skaffold.yaml")
			if err != nil || res2.Changed || string(again) != string(out) {
				t.Errorf("upgrading the upgraded file again: changed=%v err=%v", res2.Changed, err)
			}
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if got == "" {
			os.Remove(path)
			return
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		want, err = nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"kpt", "apiVersion: skaffold/v2beta29\nkind: Config\ndeploy:\n  kpt:\n    dir: .\n",
			"skaffold.yaml:5:5: deploy.kpt: converting deploy.kpt is not supported"},
		{"kpt in a profile", "apiVersion: skaffold/v2beta29\nkind: Config\nprofiles:\n  - name: p\n    deploy:\n      kpt: {dir: .}\n",
			"skaffold.yaml:6:12: profiles[0].deploy.kpt: converting deploy.kpt is not supported"},
		{"too old", "apiVersion: skaffold/v1beta13\nkind: Config\n",
			"skaffold.yaml:1:13: apiVersion: skaffold/v1beta13 is older than skaffold/v2beta1"},
		{"namespace conflict", "apiVersion: skaffold/v2beta29\nkind: Config\ndeploy:\n  kubectl:\n    defaultNamespace: a\n  kustomize:\n    defaultNamespace: b\n",
			"skaffold.yaml:7:23: deploy.kustomize.defaultNamespace: cannot merge into deploy.kubectl, which sets defaultNamespace \"a\""},
		{"malformed", "apiVersion: [\n", "skaffold.yaml: malformed YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Upgrade([]byte(tc.in), "skaffold.yaml")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}
