package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{
			name: "file written by hack/testenv",
			in: "# Written by hack/testenv up\n" +
				"export KUBECONFIG=/r/.testenv/kwok/clusters/skiff-1/kubeconfig.yaml\n" +
				"export SKIFF_TEST_REGISTRY=127.0.0.1:40123\n",
			want: map[string]string{
				"KUBECONFIG":          "/r/.testenv/kwok/clusters/skiff-1/kubeconfig.yaml",
				"SKIFF_TEST_REGISTRY": "127.0.0.1:40123",
			},
		},
		{
			name: "plain, blank lines, indented comment",
			in:   "\nA=1\n   # note\n\tB=two words\n",
			want: map[string]string{"A": "1", "B": "two words"},
		},
		{
			name: "quotes",
			in:   `A="x y"` + "\n" + `B='$HOME "q"'` + "\n" + `C="a\"b\\c\$d\n"` + "\n",
			want: map[string]string{"A": "x y", "B": `$HOME "q"`, "C": `a"b\c$d\n`},
		},
		{
			name: "empty value and equals in value",
			in:   "A=\nB=k=v\nC=\"\"\n",
			want: map[string]string{"A": "", "B": "k=v", "C": ""},
		},
		{
			name: "later line wins",
			in:   "A=1\nA=2\n",
			want: map[string]string{"A": "2"},
		},
		{name: "no equals", in: "A=1\nexport B\n", wantErr: "line 2"},
		{name: "bad key", in: "1A=x\n", wantErr: "line 1"},
		{name: "unterminated quote", in: "A=\"x\n", wantErr: "unterminated"},
		{name: "mismatched quotes", in: "A='x\"\n", wantErr: "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseEnv(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseEnv() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseEnv() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseEnv() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindRootSkipsNestedModules(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	tools := filepath.Join(root, "hack", "tools")
	pkg := filepath.Join(tools, "cmd", "x")
	must(t, os.MkdirAll(pkg, 0o755))
	must(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("// c\nmodule github.com/skiff-dev/skiff\n\ngo 1.26\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(tools, "go.mod"), []byte("module github.com/skiff-dev/skiff/hack/tools\n"), 0o644))

	got, err := findRoot(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if got != root {
		t.Errorf("findRoot(%s) = %s, want %s", pkg, got, root)
	}
	if _, err := findRoot(t.TempDir()); err == nil {
		t.Error("findRoot outside any skiff checkout: want an error")
	}
}

// TestLoadEnvironmentOverridesFile cannot be parallel: it sets variables.
func TestLoadEnvironmentOverridesFile(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, ".testenv"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, EnvFile), []byte(
		"export SKIFF_TEST_KUBECONFIG=/k\nexport SKIFF_TEST_REGISTRY=127.0.0.1:1\nexport SKIFF_TEST_BASE_IMAGE=127.0.0.1:1/base/busybox:1.35\nexport SKIFF_TEST_CLUSTER=c\nexport KUBECONFIG=/k\n",
	), 0o644))
	t.Setenv(KeyRoot, root)
	t.Setenv(KeyRegistry, "127.0.0.1:2")
	t.Setenv("KUBECONFIG", "/my/real/cluster")

	env, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"root": env.Root(), "registry": env.Registry(), "kubeconfig": env.Kubeconfig(),
		"base": env.BaseImage(), "cluster": env.Var(KeyCluster),
	}
	want := map[string]string{
		"root": root, "registry": "127.0.0.1:2", "kubeconfig": "/k",
		"base": "127.0.0.1:1/base/busybox:1.35", "cluster": "c",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}

	t.Setenv(KeyRoot, t.TempDir())
	t.Setenv(KeyRegistry, "")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), ErrNotStarted.Error()) {
		t.Errorf("Load() without an env file: error = %v, want %v", err, ErrNotStarted)
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"TestPush/sub_test#01": "testpush-sub-test-01",
		"--A..b--":             "a-b",
		"":                     "",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
