package build

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/skiff-dev/skiff/internal/config"
)

func selectProject() *config.Project {
	art := func(image string, requires ...string) *config.Artifact {
		a := &config.Artifact{ImageName: image, Workspace: image}
		for _, r := range requires {
			a.Dependencies = append(a.Dependencies, &config.ArtifactDependency{ImageName: r})
		}
		return a
	}
	git := config.TagPolicy{GitTagger: &config.GitTagger{}}
	digest := config.TagPolicy{InputDigest: &struct{}{}}
	return &config.Project{Configs: []*config.Config{
		{Pipeline: config.Pipeline{Build: config.BuildConfig{TagPolicy: git, Artifacts: []*config.Artifact{art("base"), art("api", "base")}}}},
		{Pipeline: config.Pipeline{Build: config.BuildConfig{TagPolicy: digest, Artifacts: []*config.Artifact{art("web", "api"), art("docs")}}}},
	}}
}

func names(ts []Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Artifact.ImageName)
	}
	return strings.Join(out, " ")
}

func TestSelect(t *testing.T) {
	p := selectProject()
	tests := []struct {
		name string
		want func(*config.Artifact) bool
		out  string
	}{
		{"everything", nil, "base api web docs"},
		{"-b with what it requires", ImageContains([]string{"we"}), "base api web"},
		{"-b two filters", ImageContains([]string{"doc", "bas"}), "base docs"},
		{"-b matching nothing", ImageContains([]string{"zzz"}), ""},
		{"no filters is everything", ImageContains(nil), "base api web docs"},
		{"dev's rebuild set", Artifacts(p.Configs[0].Build.Artifacts[1:]), "base api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Select(p, tt.want)
			if names(got) != tt.out {
				t.Errorf("Select = %q, want %q", names(got), tt.out)
			}
			for _, tg := range got {
				wantDigest := tg.Artifact.ImageName == "web" || tg.Artifact.ImageName == "docs"
				if (tg.TagPolicy.InputDigest != nil) != wantDigest {
					t.Errorf("%s has the tag policy of another module", tg.Artifact.ImageName)
				}
			}
		})
	}
}

func TestSpecResolvesBuildArgsOnce(t *testing.T) {
	t.Setenv("FROM_ENV", "env-value")
	str := func(s string) *string { return &s }
	args := map[string]*string{"SET": str("v"), "FROM_ENV": nil, "UNSET_ARG_FOR_SPEC": nil, "EMPTY": str("")}
	tests := []struct {
		name string
		a    config.ArtifactType
		want DockerSpec
		ok   bool
	}{
		{"docker", config.ArtifactType{DockerArtifact: &config.DockerArtifact{DockerfilePath: "build/Dockerfile", Target: "prod", BuildArgs: args, NoCache: true}},
			DockerSpec{ContextDir: "ctx", Dockerfile: "ctx/build/Dockerfile", Target: "prod", NoCache: true,
				BuildArgs: map[string]string{"SET": "v", "FROM_ENV": "env-value", "EMPTY": ""}}, true},
		{"kaniko with a context sub-path", config.ArtifactType{KanikoArtifact: &config.KanikoArtifact{ContextSubPath: "sub", Reproducible: true, Cache: &config.KanikoCache{Repo: "r/cache"}}},
			DockerSpec{ContextDir: "ctx/sub", Dockerfile: "ctx/sub/Dockerfile", Reproducible: true, CacheRepo: "r/cache", BuildArgs: map[string]string{}}, true},
		{"custom with a Dockerfile dependency", config.ArtifactType{CustomArtifact: &config.CustomArtifact{BuildCommand: "make", Dependencies: &config.CustomDependencies{Dockerfile: &config.DockerfileDependency{Path: "/abs/Dockerfile", BuildArgs: args}}}},
			DockerSpec{ContextDir: "ctx", Dockerfile: "/abs/Dockerfile", BuildArgs: map[string]string{"SET": "v", "FROM_ENV": "env-value", "EMPTY": ""}}, true},
		{"custom without one", config.ArtifactType{CustomArtifact: &config.CustomArtifact{BuildCommand: "make"}}, DockerSpec{ContextDir: "ctx"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Spec(&config.Artifact{ImageName: "x", Workspace: "ctx", ArtifactType: tt.a})
			if ok != tt.ok {
				t.Fatalf("ok = %v", ok)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Spec (-want +got):\n%s", d)
			}
		})
	}
}

// recordingBuilder is a Builder that builds nothing and records the
// requires references each artifact got.
type recordingBuilder struct {
	mu   sync.Mutex
	deps map[string]map[string]string
}

func (b *recordingBuilder) Build(_ context.Context, a *config.Artifact, ref name.Tag, deps map[string]string, _ func(Event)) (Built, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deps[a.ImageName] = deps
	return Built{Ref: ref.String() + "@sha256:" + strings.Repeat("1", 64)}, nil
}

// TestRunWithBuilt checks that an artifact rebuilt on its own gets the
// references of what it requires from Options.Built (skiff dev's earlier
// builds) and that those are not built again; without them it is an error
// that says what to do.
func TestRunWithBuilt(t *testing.T) {
	p := selectProject()
	baseRef := "reg.example/base:old@sha256:" + strings.Repeat("a", 64)
	built := map[string]string{"base": baseRef}
	targets := SelectMissing(p, ImageContains([]string{"api"}), built)
	if got := names(targets); got != "api" {
		t.Fatalf("SelectMissing = %q, want only api", got)
	}
	rb := &recordingBuilder{deps: map[string]map[string]string{}}
	opts := Options{Tag: "t1", DefaultRepo: "reg.example", Dockerfiles: rb, Built: built}
	out, err := Run(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].ImageName != "api" {
		t.Fatalf("Run built %v, want api only", out)
	}
	if diff := cmp.Diff(map[string]map[string]string{"api": {"base": baseRef}}, rb.deps); diff != "" {
		t.Errorf("requires references (-want +got):\n%s", diff)
	}

	opts.Built = nil
	_, err = Run(context.Background(), targets, opts)
	if err == nil || !strings.Contains(err.Error(), "api requires base, which is not built") {
		t.Errorf("Run without base = %v, want an error naming api and base", err)
	}
}
