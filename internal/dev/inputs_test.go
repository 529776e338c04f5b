package dev

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/config"
)

// writeTree creates files (path → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func dockerArtifact(image, context string) *config.Artifact {
	return &config.Artifact{ImageName: image, Workspace: context, ArtifactType: config.ArtifactType{DockerArtifact: &config.DockerArtifact{DockerfilePath: "Dockerfile"}}}
}

func TestArtifactInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		// in and out are paths relative to the context.
		in, out []string
		wantErr string
	}{
		{
			name: "COPY sources only",
			files: map[string]string{
				"Dockerfile":  "FROM scratch\nCOPY site/ /www/\nCOPY go.mod /\n",
				"site/a.html": "", "site/sub/b.css": "", "go.mod": "", "README.md": "", "deploy/k8s.yaml": "",
			},
			in:  []string{"Dockerfile", "site/a.html", "site/sub/b.css", "go.mod", "site/new.html", ".dockerignore", "Dockerfile.dockerignore"},
			out: []string{"README.md", "deploy/k8s.yaml", "sitemap.xml"},
		},
		{
			name: ".dockerignore filters the context",
			files: map[string]string{
				"Dockerfile":    "FROM scratch\nCOPY . /app/\n",
				".dockerignore": "*.secret\n**/node_modules\n!keep.secret\n",
				"main.go":       "", "a.secret": "", "keep.secret": "", "sub/node_modules/x.js": "", "sub/b.secret": "",
			},
			in:  []string{"main.go", "keep.secret", "sub/b.secret", ".dockerignore"},
			out: []string{"a.secret", "sub/node_modules/x.js"},
		},
		{
			name: "wildcards, ARG expansion, bind mounts, needed stages only",
			files: map[string]string{
				"Dockerfile": "ARG SRC=src\nFROM scratch AS unused\nCOPY unused/ /u/\n" +
					"FROM scratch AS build\nRUN --mount=type=bind,source=tools,target=/t true\nCOPY ${SRC}/*.go /src/\n" +
					"FROM build\nCOPY --from=build /src /src\nADD https://example.com/x.tgz /x\n",
				"src/main.go": "", "src/main_test.txt": "", "unused/x": "", "tools/gen.sh": "",
			},
			in:  []string{"src/main.go", "src/other.go", "tools/gen.sh"},
			out: []string{"src/main_test.txt", "unused/x"},
		},
		{
			name: "a Dockerfile that does not parse watches the whole context",
			files: map[string]string{
				"Dockerfile": "FROMM scratch\n",
				"anything":   "",
			},
			in:      []string{"anything", "Dockerfile"},
			wantErr: "Dockerfile",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			set, err := artifactInputs(context.Background(), dir, dockerArtifact("app", "."))
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
			for _, p := range tt.in {
				if !set.Contains(filepath.Join(dir, p)) {
					t.Errorf("%s is not an input", p)
				}
			}
			for _, p := range tt.out {
				if set.Contains(filepath.Join(dir, p)) {
					t.Errorf("%s is an input", p)
				}
			}
		})
	}
}

func TestCustomArtifactInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"app/main.go": "", "app/gen/x.go": "", "app/notes.txt": "", "build.sh": "", "other/x": ""})
	tests := []struct {
		name    string
		deps    *config.CustomDependencies
		in, out []string
	}{
		{"no dependencies: the whole context", nil, []string{"app/main.go", "other/x"}, nil},
		{
			"paths and ignore",
			&config.CustomDependencies{Paths: []string{"app/**/*.go", "build.sh"}, Ignore: []string{"app/gen"}},
			[]string{"app/main.go", "build.sh"},
			[]string{"app/gen/x.go", "app/notes.txt", "other/x"},
		},
		{
			"command",
			&config.CustomDependencies{Command: `echo '["app/notes.txt"]'`},
			[]string{"app/notes.txt"},
			[]string{"app/main.go"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &config.Artifact{ImageName: "c", Workspace: ".", ArtifactType: config.ArtifactType{CustomArtifact: &config.CustomArtifact{BuildCommand: "true", Dependencies: tt.deps}}}
			set, err := artifactInputs(context.Background(), dir, a)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.in {
				if !set.Contains(filepath.Join(dir, p)) {
					t.Errorf("%s is not an input", p)
				}
			}
			for _, p := range tt.out {
				if set.Contains(filepath.Join(dir, p)) {
					t.Errorf("%s is an input", p)
				}
			}
		})
	}
}

func TestManifestInputsFollowKustomizeResources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"k8s/base/kustomization.yaml":         "resources: [deployment.yaml]\n",
		"k8s/base/deployment.yaml":            "",
		"k8s/overlays/dev/kustomization.yaml": "resources: [../../base]\npatches:\n- path: ../../patches/p.yaml\n",
		"k8s/patches/p.yaml":                  "",
		"k8s/unrelated/x.yaml":                "",
		"raw/a.yaml":                          "",
	})
	p := &config.Project{WorkDir: dir, Configs: []*config.Config{{}}}
	p.Configs[0].Render.Kustomize = &config.Kustomize{Paths: []string{"k8s/overlays/dev"}}
	p.Configs[0].Render.RawK8s = []string{"raw/*.yaml"}
	set, _ := manifestInputs(p)
	for _, f := range []string{"k8s/overlays/dev/kustomization.yaml", "k8s/base/deployment.yaml", "k8s/patches/p.yaml", "raw/a.yaml", "raw/new.yaml"} {
		if !set.Contains(filepath.Join(dir, f)) {
			t.Errorf("%s is not a manifest input", f)
		}
	}
	for _, f := range []string{"k8s/unrelated/x.yaml", "raw/sub/b.yaml"} {
		if set.Contains(filepath.Join(dir, f)) {
			t.Errorf("%s is a manifest input", f)
		}
	}
}
