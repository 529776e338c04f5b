package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFix takes a skaffold/v2beta29 project that skiff refuses, upgrades it
// with skiff fix (first to stdout, then in place) and renders it.
func TestFix(t *testing.T) {
	dir := t.TempDir()
	old := `# the shop
apiVersion: skaffold/v2beta29
kind: Config
deploy:
  kubectl:
    manifests: [k8s/*.yaml] # everything in k8s
`
	mustWrite(t, filepath.Join(dir, "skaffold.yaml"), old)
	if err := os.Chmod(filepath.Join(dir, "skaffold.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "k8s", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop\ndata:\n  a: b\n")

	_, stderr, code := run(t, dir, "render", "--offline")
	if code == 0 || !strings.Contains(stderr, "skiff fix --overwrite") {
		t.Fatalf("render of a v2beta29 file: exit %d, stderr %q; want a pointer to skiff fix", code, stderr)
	}

	out, stderr, code := run(t, dir, "fix")
	if code != 0 {
		t.Fatalf("fix: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"apiVersion: skaffold/v4beta13", "rawYaml: [k8s/*.yaml] # everything in k8s", "# the shop"} {
		if !strings.Contains(out, want) {
			t.Errorf("fix output lacks %q:\n%s", want, out)
		}
	}
	if got := readFile(t, filepath.Join(dir, "skaffold.yaml")); got != old {
		t.Errorf("fix without --overwrite changed the file")
	}

	if _, stderr, code = run(t, dir, "fix", "--overwrite"); code != 0 {
		t.Fatalf("fix --overwrite: exit %d: %s", code, stderr)
	}
	if got := readFile(t, filepath.Join(dir, "skaffold.yaml")); got != out {
		t.Errorf("fix --overwrite wrote\n%s\nwant what fix printed:\n%s", got, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "skaffold.yaml")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after --overwrite: %v %v, want 0600", fi.Mode(), err)
	}
	rendered, stderr, code := run(t, dir, "render", "--offline")
	if code != 0 || !strings.Contains(rendered, "name: shop") {
		t.Fatalf("render after fix: exit %d, stderr %q, out %q", code, stderr, rendered)
	}

	out, stderr, code = run(t, dir, "fix")
	if code != 0 || out != "" || !strings.Contains(stderr, "nothing to upgrade") {
		t.Errorf("fix of a current file: exit %d, out %q, stderr %q", code, out, stderr)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".skaffold.yaml.") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
