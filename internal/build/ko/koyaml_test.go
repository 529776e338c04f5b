package ko

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKoYAML(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "hello"))); err != nil {
		t.Fatal(err)
	}
	c, err := readKoYAML(dir)
	if err != nil || c.DefaultBaseImage != "" || len(c.Builds) != 0 {
		t.Fatalf("no .ko.yaml: %+v, %v", c, err)
	}
	if got := c.baseFor("example.com/hello/cmd/hello"); got != DefaultBaseImage {
		t.Errorf("base without .ko.yaml = %s, want ko's default", got)
	}

	writeKoYAML(t, dir, `defaultBaseImage: registry.example/base:1
baseImageOverrides:
  example.com/Hello/cmd/hello: registry.example/special:2
builds:
  - id: hello
    main: ./cmd/hello
    ldflags: ["-X main.version=from-ko-yaml"]
    env: [FOO=bar]
`)
	c, err = readKoYAML(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"example.com/hello/cmd/hello": "registry.example/special:2", // keys match case-insensitively, as in ko
		"example.com/hello/cmd/other": "registry.example/base:1",
	} {
		if got := c.baseFor(path); got != want {
			t.Errorf("base of %s = %s, want %s", path, got, want)
		}
	}
	b, ok := c.buildFor(dir, "ko://example.com/hello/cmd/hello")
	if !ok {
		t.Fatal("the build whose main is ./cmd/hello was not found for ko://example.com/hello/cmd/hello")
	}
	if diff := cmp.Diff([]string{"-X main.version=from-ko-yaml"}, b.Ldflags); diff != "" {
		t.Errorf("ldflags (-want +got):\n%s", diff)
	}
	if _, ok := c.buildFor(dir, "ko://example.com/hello/internal/greet"); ok {
		t.Error("a build matched another package")
	}

	t.Setenv("KO_CONFIG_PATH", filepath.Join(dir, "elsewhere"))
	writeKoYAML(t, filepath.Join(dir, "elsewhere"), "defaultBaseImage: registry.example/from-env:3\n")
	if c, err = readKoYAML(dir); err != nil || c.baseFor("x") != "registry.example/from-env:3" {
		t.Errorf("KO_CONFIG_PATH directory: %+v, %v", c, err)
	}

	writeKoYAML(t, filepath.Join(dir, "elsewhere"), "builds: [nope\n")
	if _, err := readKoYAML(dir); err == nil {
		t.Error("a .ko.yaml that does not parse was read without error")
	}
	writeKoYAML(t, filepath.Join(dir, "elsewhere"), "defaultBaseImage: x\ndefaultLdflags: [-s]\n")
	if _, err := readKoYAML(dir); err == nil || !strings.Contains(err.Error(), "defaultLdflags") || !strings.Contains(err.Error(), ".ko.yaml") {
		t.Errorf("a .ko.yaml key skiff does not act on: %v", err)
	}
}

func writeKoYAML(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".ko.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
