// Package pipelinetest loads test projects into job graphs for the tests of
// the pipeline generators and executor.
package pipelinetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/pipeline"
)

// Load loads the project in dir (relative to the calling test's package),
// with an empty environment so activation does not depend on the machine.
func Load(t testing.TB, dir string) *config.Project {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := config.Load(config.LoadOptions{WorkDir: abs, Activation: config.ActivationContext{Env: map[string]string{}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Graph loads the project in dir and builds its job graph.
func Graph(t testing.TB, dir string) (*config.Project, *pipeline.Graph) {
	t.Helper()
	p := Load(t, dir)
	g, err := pipeline.FromProject(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, g
}

// ExampleFiles reads the example project in dir (without its .skiff run
// directory) as relative path → content.
func ExampleFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel == ".skiff" {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(path)
		files[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// RenameApp renames the example application myapp to app in its skiff.yaml
// and .gitlab-ci.yml (application name, namespaces, the stop job's --app),
// so a test's environments are its own.
func RenameApp(files map[string][]byte, app string) {
	r := strings.NewReplacer("name: myapp", "name: "+app, "namespace: myapp", "namespace: "+app, "--app myapp", "--app "+app)
	for _, rel := range []string{"skiff.yaml", ".gitlab-ci.yml"} {
		if data, ok := files[rel]; ok {
			files[rel] = []byte(r.Replace(string(data)))
		}
	}
}

// WriteFiles writes files under dir.
func WriteFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for rel, data := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
