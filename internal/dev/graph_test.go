package dev

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/skiff-dev/skiff/internal/config"
)

// testProject is three artifacts (app requires base; web syncs its
// static files), rawYaml manifests and a configuration file.
func testProject(t *testing.T) *config.Project {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"skaffold.yaml":       "",
		"base/Dockerfile":     "FROM scratch\nCOPY lib/ /lib/\n",
		"base/lib/a.so":       "",
		"app/Dockerfile":      "ARG BASE\nFROM $BASE\nCOPY main.go /src/\n",
		"app/main.go":         "",
		"web/Dockerfile":      "FROM scratch\nWORKDIR /srv\nCOPY static/ ./static/\nCOPY server.go /\n",
		"web/static/a.html":   "",
		"web/server.go":       "",
		"k8s/deployment.yaml": "",
	})
	base := dockerArtifact("base", "base")
	app := dockerArtifact("app", "app")
	app.Dependencies = []*config.ArtifactDependency{{ImageName: "base", Alias: "BASE"}}
	web := dockerArtifact("web", "web")
	web.Sync = &config.Sync{Infer: []string{"static/**"}}
	c := &config.Config{Source: config.Source{File: "skaffold.yaml", Root: true}}
	c.Build.Artifacts = []*config.Artifact{base, app, web}
	c.Render.RawK8s = []string{"k8s/*.yaml"}
	return &config.Project{WorkDir: dir, File: "skaffold.yaml", Configs: []*config.Config{c}}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := testProject(t)
	g := NewGraph(context.Background(), p)
	if len(g.Warnings) > 0 {
		t.Fatalf("warnings: %v", g.Warnings)
	}
	at := func(rel string) string { return filepath.Join(p.WorkDir, rel) }
	tests := []struct {
		name    string
		changes []Change
		want    Plan
	}{
		{
			name:    "a source file rebuilds its artifact only",
			changes: []Change{{Path: at("app/main.go")}},
			want:    Plan{Changed: []string{at("app/main.go")}, Rebuild: []string{"app"}, Redeploy: true},
		},
		{
			name:    "a required artifact rebuilds its dependents",
			changes: []Change{{Path: at("base/lib/a.so")}},
			want:    Plan{Changed: []string{at("base/lib/a.so")}, Rebuild: []string{"base", "app"}, Redeploy: true},
		},
		{
			name:    "a synced file is copied, nothing is rebuilt",
			changes: []Change{{Path: at("web/static/a.html")}, {Path: at("web/static/old.html"), Removed: true}},
			want: Plan{
				Changed: []string{at("web/static/a.html"), at("web/static/old.html")},
				Sync:    []SyncPlan{{Image: "web", Copy: []FileCopy{{Local: at("web/static/a.html"), Dest: "/srv/static/a.html"}}, Delete: []string{"/srv/static/old.html"}, Removed: []string{at("web/static/old.html")}}},
			},
		},
		{
			name:    "a synced file with a rebuilt one in the same artifact rebuilds",
			changes: []Change{{Path: at("web/static/a.html")}, {Path: at("web/server.go")}},
			want:    Plan{Changed: []string{at("web/server.go"), at("web/static/a.html")}, Rebuild: []string{"web"}, Redeploy: true},
		},
		{
			name:    "the Dockerfile rebuilds",
			changes: []Change{{Path: at("web/Dockerfile")}},
			want:    Plan{Changed: []string{at("web/Dockerfile")}, Rebuild: []string{"web"}, Redeploy: true},
		},
		{
			name:    "a manifest redeploys without building",
			changes: []Change{{Path: at("k8s/deployment.yaml")}},
			want:    Plan{Changed: []string{at("k8s/deployment.yaml")}, Redeploy: true, Manifests: true},
		},
		{
			name:    "the configuration reloads",
			changes: []Change{{Path: at("skaffold.yaml")}},
			want:    Plan{Changed: []string{at("skaffold.yaml")}, Reload: true},
		},
		{
			name:    "files nobody reads do nothing",
			changes: []Change{{Path: at("app/README.md")}, {Path: at("notes.txt")}},
			want:    Plan{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := g.Decide(tt.changes)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMergeSyncDropsRebuiltArtifacts(t *testing.T) {
	t.Parallel()
	pending := []SyncPlan{{Image: "web", Copy: []FileCopy{{Local: "a", Dest: "/a"}}}, {Image: "api", Copy: []FileCopy{{Local: "x", Dest: "/x"}}}}
	next := []SyncPlan{{Image: "web", Delete: []string{"/b"}}}
	got := mergeSync(pending, next, map[string]bool{"api": true})
	want := []SyncPlan{{Image: "web", Copy: []FileCopy{{Local: "a", Dest: "/a"}}, Delete: []string{"/b"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mergeSync (-want +got):\n%s", diff)
	}
}
