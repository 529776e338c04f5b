package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestVerify runs skiff verify with a local and a cluster test (on the
// real node), then deploy --verify with a failing one.
func TestVerify(t *testing.T) {
	e, _ := onSandbox(t)
	node := e.RealNode(t)
	ns := node.Namespace(t, "verify-cli")
	dir := t.TempDir()
	tests := `verify:
  - name: local-smoke
    container: {name: smoke, image: ` + e.BaseImage() + `, command: ["sh", "-c", "echo local ok"]}
  - name: cluster-smoke
    container: {name: smoke, image: ` + e.BaseImage() + `, command: ["sh", "-c", "echo cluster ok"]}
    executionMode: {kubernetesCluster: {}}
`
	mustWrite(t, filepath.Join(dir, "skaffold.yaml"), "apiVersion: skaffold/v4beta13\nkind: Config\nmanifests: {rawYaml: [k8s/*.yaml]}\n"+tests)
	mustWrite(t, filepath.Join(dir, "k8s", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n")
	out, stderr, code := run(t, dir, "verify", "-n", ns)
	if code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"PASS  verify  local-smoke (local, ", "PASS  verify  cluster-smoke (cluster, ", "2 verify tests, 2 passed, 0 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"[local-smoke] local ok", "[cluster-smoke] cluster ok"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("verify stderr lacks %q:\n%s", want, stderr)
		}
	}

	cfg := strings.Replace(readFile(t, filepath.Join(dir, "skaffold.yaml")), `echo cluster ok`, `echo cluster says no; exit 9`, 1)
	mustWrite(t, filepath.Join(dir, "skaffold.yaml"), cfg)
	out, stderr, code = run(t, dir, "deploy", "-n", ns, "--verify")
	if code != 1 || !strings.Contains(out, "FAIL  verify  cluster-smoke (cluster, ") || !strings.Contains(out, "container smoke exited with code 9") ||
		!strings.Contains(stderr, "1 of 2 verify tests failed") {
		t.Errorf("deploy --verify with a failing test: exit %d\n%s\n%s", code, out, stderr)
	}
}
