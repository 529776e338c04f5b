package dev

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/skiff-dev/skiff/internal/build/dockerfile"
	"github.com/skiff-dev/skiff/internal/config"
)

func TestManualSyncRules(t *testing.T) {
	t.Parallel()
	rules := []*config.SyncRule{
		{Src: "static/**/*.html", Dest: "/usr/share/nginx/html", Strip: "static/"},
		{Src: "*.js", Dest: "."},
		{Src: "conf/app.conf", Dest: "/etc/app"},
		{Src: "web/**", Dest: "www", Strip: "web/"},
	}
	tests := []struct {
		file string
		want []string
	}{
		{"static/index.html", []string{"/usr/share/nginx/html/index.html"}},
		{"static/a/b/page.html", []string{"/usr/share/nginx/html/a/b/page.html"}},
		{"static/style.css", nil},
		{"main.js", []string{"main.js"}}, // relative: the container's working directory
		{"lib/util.js", nil},             // * does not cross directories
		{"conf/app.conf", []string{"/etc/app/conf/app.conf"}},
		{"web/css/site.css", []string{"www/css/site.css"}},
		{"elsewhere.txt", nil},
	}
	dir := t.TempDir()
	r := &syncRules{context: dir, manual: rules}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := r.destinations(filepath.Join(dir, tt.file))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("destinations(%s) (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestInferredSyncRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM scratch AS base\nWORKDIR /app\nCOPY site/ /www/\nCOPY conf/app.conf ./etc/\nCOPY main.js .\n" +
			"FROM scratch AS tools\nCOPY tools/ /tools/\n" +
			"FROM base AS development\nCOPY dev/ _dev\nCOPY *.md /docs/\nCOPY single.txt /renamed.txt\n" +
			"FROM base AS production\n",
		".dockerignore":   "site/private\n",
		"site/index.html": "", "site/private/key.html": "", "conf/app.conf": "", "main.js": "", "tools/t.sh": "",
		"dev/index.html": "", "README.md": "", "single.txt": "",
	})
	a := dockerArtifact("app", ".")
	a.DockerArtifact.Target = "development"
	a.Sync = &config.Sync{Infer: []string{"**/*.html", "**/*.conf", "*.js", "*.md", "tools/**", "*.txt"}}
	r, err := newSyncRules(dir, a)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want []string
	}{
		{"site/index.html", []string{"/www/index.html"}},
		{"site/new/page.html", []string{"/www/new/page.html"}},
		{"site/private/key.html", nil}, // excluded by .dockerignore
		{"conf/app.conf", []string{"/app/etc/app.conf"}},
		{"main.js", []string{"/app/main.js"}},
		{"dev/index.html", []string{"/app/_dev/index.html"}},
		{"README.md", []string{"/docs/README.md"}},
		{"single.txt", []string{"/renamed.txt"}},
		{"tools/t.sh", nil}, // copied into a stage the image is not built FROM
		{"Dockerfile", nil}, // not an infer pattern
		{"site/a.css", nil}, // not an infer pattern
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := r.destinations(filepath.Join(dir, tt.file))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("destinations(%s) (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestCopyStepDestinations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		step dockerfile.CopyStep
		file string
		want []string
	}{
		{"whole context into a workdir", dockerfile.CopyStep{Sources: []string{""}, Dest: ".", Workdir: "/app"}, "src/a.go", []string{"/app/src/a.go"}},
		{"whole context, the base image's workdir", dockerfile.CopyStep{Sources: []string{""}, Dest: "."}, "a.go", []string{"a.go"}},
		{"file to a file", dockerfile.CopyStep{Sources: []string{"a.conf"}, Dest: "/etc/x.conf"}, "a.conf", []string{"/etc/x.conf"}},
		{"file into a directory", dockerfile.CopyStep{Sources: []string{"a.conf"}, Dest: "/etc/"}, "a.conf", []string{"/etc/a.conf"}},
		{"several sources", dockerfile.CopyStep{Sources: []string{"a", "b"}, Dest: "/d"}, "b", []string{"/d/b"}},
		{"wildcard", dockerfile.CopyStep{Sources: []string{"src/*.go"}, Dest: "/src"}, "src/x.go", []string{"/src/x.go"}},
		{"wildcard directory", dockerfile.CopyStep{Sources: []string{"pkg*"}, Dest: "/p/"}, "pkg1/x/y.go", []string{"/p/x/y.go"}},
		{"no match", dockerfile.CopyStep{Sources: []string{"src"}, Dest: "/src"}, "other/x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stepDestinations(tt.step, tt.file)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestInferredDestinationBeforeAnyWorkdir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dockerfile string
		want       string
	}{
		// The container runs in the base image's working directory, where
		// the relative COPY put the file: the copy goes there too.
		{"FROM busybox\nCOPY a.txt .\n", "a.txt"},
		// A later WORKDIR moves the container elsewhere: the base image's
		// is taken to be /.
		{"FROM busybox\nCOPY a.txt .\nWORKDIR /srv\n", "/a.txt"},
		{"FROM busybox\nWORKDIR app\nCOPY a.txt .\n", "a.txt"},
		{"FROM busybox\nWORKDIR app\nCOPY a.txt /abs/\n", "/abs/a.txt"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"Dockerfile": tt.dockerfile, "a.txt": ""})
		a := dockerArtifact("app", ".")
		a.Sync = &config.Sync{Infer: []string{"*.txt"}}
		r, err := newSyncRules(dir, a)
		if err != nil {
			t.Fatal(err)
		}
		got := r.destinations(filepath.Join(dir, "a.txt"))
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("%q: destinations %v, want [%s]", tt.dockerfile, got, tt.want)
		}
	}
}
