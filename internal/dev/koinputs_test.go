package dev

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/skiff-dev/skiff/internal/config"
)

// koProject is a Go module with two programs: hello imports greet (which
// imports words); tool imports only words. lone is imported by nobody.
func koProject(t *testing.T) *config.Project {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"skaffold.yaml":                "",
		"go.mod":                       "module example.com/app\n\ngo 1.26\n",
		"cmd/hello/main.go":            "package main\n\nimport \"example.com/app/internal/greet\"\n\nfunc main() { println(greet.Hello()) }\n",
		"cmd/hello/kodata/motd":        "hi\n",
		"cmd/tool/main.go":             "package main\n\nimport \"example.com/app/internal/words\"\n\nfunc main() { println(words.Word) }\n",
		"internal/greet/greet.go":      "package greet\n\nimport \"example.com/app/internal/words\"\n\nfunc Hello() string { return \"hello \" + words.Word }\n",
		"internal/words/words.go":      "package words\n\nconst Word = \"ko\"\n",
		"internal/words/words_test.go": "package words\n",
		"internal/lone/lone.go":        "package lone\n",
		"README.md":                    "",
	})
	hello := &config.Artifact{ImageName: "ko://example.com/app/cmd/hello", Workspace: ".", ArtifactType: config.ArtifactType{KoArtifact: &config.KoArtifact{}}}
	tool := &config.Artifact{ImageName: "tool", Workspace: ".", ArtifactType: config.ArtifactType{KoArtifact: &config.KoArtifact{Main: "./cmd/tool"}}}
	paths := &config.Artifact{ImageName: "paths", Workspace: ".", ArtifactType: config.ArtifactType{KoArtifact: &config.KoArtifact{
		Main: "./cmd/tool", Dependencies: &config.KoDependencies{Paths: []string{"**/*.go"}, Ignore: []string{"internal/lone"}}}}}
	c := &config.Config{Source: config.Source{File: "skaffold.yaml", Root: true}}
	c.Build.Artifacts = []*config.Artifact{hello, tool, paths}
	return &config.Project{WorkDir: dir, File: "skaffold.yaml", Configs: []*config.Config{c}}
}

// TestKoInputsFollowImports: a ko artifact is rebuilt when a package its
// main package imports (directly or not) changes, and not for packages of
// the module it does not import; dependencies.paths replaces that.
func TestKoInputsFollowImports(t *testing.T) {
	t.Parallel()
	p := koProject(t)
	g := NewGraph(context.Background(), p)
	if len(g.Warnings) > 0 {
		t.Fatalf("warnings: %v", g.Warnings)
	}
	at := func(rel string) string { return filepath.Join(p.WorkDir, rel) }
	hello := "ko://example.com/app/cmd/hello"
	tests := []struct {
		name    string
		changed string
		rebuild []string
	}{
		// paths (**/*.go minus internal/lone) sees every Go file.
		{"the main package", "cmd/hello/main.go", []string{hello, "paths"}},
		{"a package it imports", "internal/greet/greet.go", []string{hello, "paths"}},
		{"a package imported through another", "internal/words/words.go", []string{hello, "tool", "paths"}},
		{"a new file in an imported package", "internal/greet/extra.go", []string{hello, "paths"}},
		{"kodata", "cmd/hello/kodata/motd", []string{hello}},
		{"go.mod", "go.mod", []string{hello, "tool"}},
		{"a package nobody imports", "internal/lone/lone.go", nil},
		{"a test file", "internal/words/words_test.go", []string{"paths"}},
		{"not Go", "README.md", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := g.Decide([]Change{{Path: at(tt.changed)}})
			if diff := cmp.Diff(tt.rebuild, got.Rebuild, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rebuilt after %s changed (-want +got):\n%s", tt.changed, diff)
			}
		})
	}
	if !g.definesInputs([]string{at("internal/greet/greet.go")}) {
		t.Error("a change to an imported Go file does not recompute the inputs (its imports may have changed)")
	}
	if g.definesInputs([]string{at("internal/lone/lone.go")}) {
		t.Error("a change to an unused package recomputes the inputs")
	}
}

// TestKoInputsNewImport: after main.go starts importing lone, the
// recomputed graph rebuilds hello when lone changes.
func TestKoInputsNewImport(t *testing.T) {
	t.Parallel()
	p := koProject(t)
	writeTree(t, p.WorkDir, map[string]string{
		"cmd/hello/main.go": "package main\n\nimport (\n\t\"example.com/app/internal/greet\"\n\t_ \"example.com/app/internal/lone\"\n)\n\nfunc main() { println(greet.Hello()) }\n",
	})
	g := NewGraph(context.Background(), p)
	got := g.Decide([]Change{{Path: filepath.Join(p.WorkDir, "internal/lone/lone.go")}})
	if diff := cmp.Diff([]string{"ko://example.com/app/cmd/hello"}, got.Rebuild); diff != "" {
		t.Errorf("rebuilt (-want +got):\n%s", diff)
	}

	// A main package that does not parse is still an input, and fixing it
	// recomputes the inputs.
	main := filepath.Join(p.WorkDir, "cmd/hello/main.go")
	writeTree(t, p.WorkDir, map[string]string{"cmd/hello/main.go": "package main\n\nfunc main( {\n"})
	g = NewGraph(context.Background(), p)
	got = g.Decide([]Change{{Path: main}})
	if len(got.Rebuild) == 0 || got.Rebuild[0] != "ko://example.com/app/cmd/hello" || !g.definesInputs([]string{main}) {
		t.Errorf("a broken main.go: rebuilt %v, recomputes %v (warnings %v)", got.Rebuild, g.definesInputs([]string{main}), g.Warnings)
	}
}
