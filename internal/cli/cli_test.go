package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes skiff in dir with args and returns stdout, stderr and the
// exit code.
func run(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	if dir != "" {
		t.Chdir(dir)
	}
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"version", []string{"version"}, ExitOK, ""},
		{"unknown flag", []string{"version", "--nope"}, ExitUsage, "unknown flag: --nope"},
		{"unknown command", []string{"frobnicate"}, ExitUsage, "unknown command"},
		{"bad verbosity", []string{"-v", "loud", "version"}, ExitUsage, "--verbosity"},
		{"extra args", []string{"version", "x"}, ExitUsage, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.err)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("error output is not one line: %q", stderr)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	out, _, code := run(t, "", "version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"version"`) || !strings.Contains(out, `"platform": "linux/`) {
		t.Errorf("version -o json = %q (exit %d)", out, code)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, stderr, code := run(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, "skiff") || len(out) < 500 {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), stderr)
		}
	}
}

func TestDiagnose(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "deploy", "skaffold.yaml"), `apiVersion: skaffold/v4beta11
kind: Config
metadata:
  name: myapp
build:
  artifacts:
    - image: myapp
manifests:
  kustomize:
    paths: [deploy/k8s/overlays/development]
profiles:
  - name: production
    manifests:
      kustomize:
        paths: [deploy/k8s/overlays/production]
`)
	out, stderr, code := run(t, dir, "diagnose", "--yaml-only", "-f", "deploy/skaffold.yaml", "-p", "production")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "- deploy/k8s/overlays/production") || strings.Contains(out, "profiles:") || strings.HasPrefix(out, "#") {
		t.Errorf("effective config:\n%s", out)
	}
	again, _, _ := run(t, dir, "diagnose", "--yaml-only", "-f", "deploy/skaffold.yaml", "-p", "production")
	if again != out {
		t.Error("diagnose --yaml-only is not deterministic")
	}
	_, stderr, code = run(t, dir, "diagnose", "-f", "deploy/skaffold.yaml", "-p", "staging")
	if code != ExitError || !strings.Contains(stderr, `profile "staging" (from -p) is not defined`) || !strings.Contains(stderr, "deploy/skaffold.yaml:") {
		t.Errorf("unknown profile: exit %d, stderr %q", code, stderr)
	}
}

func TestNoConfigFile(t *testing.T) {
	_, stderr, code := run(t, t.TempDir(), "diagnose")
	if code != ExitError || !strings.Contains(stderr, "no skiff.yaml or skaffold.yaml") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestColorRespectsNoColor(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	if colorEnabled(os.Stderr) {
		t.Error("NO_COLOR must turn colour off")
	}
	var b bytes.Buffer
	t.Setenv("NO_COLOR", "")
	os.Unsetenv("NO_COLOR")
	if colorEnabled(&b) {
		t.Error("a buffer is not a terminal")
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
