package build

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}

func dockerTarget(t *testing.T, image, dockerfile string, args map[string]string, requires ...string) Target {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	ba := map[string]*string{}
	for k, v := range args {
		ba[k] = &v
	}
	a := &config.Artifact{ImageName: image, Workspace: dir, ArtifactType: config.ArtifactType{DockerArtifact: &config.DockerArtifact{DockerfilePath: "Dockerfile", BuildArgs: ba}}}
	for _, r := range requires {
		a.Dependencies = append(a.Dependencies, &config.ArtifactDependency{ImageName: r, Alias: strings.ToUpper(r)})
	}
	return Target{Artifact: a}
}

func readFile(t *testing.T, ref string, path string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == strings.TrimPrefix(path, "/") {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}

func TestRunDAG(t *testing.T) {
	env := testenv.Require(t)
	repo := strings.TrimSuffix(env.Repo(t, "x"), "/x")
	targets := []Target{
		dockerTarget(t, "app", "ARG BASE\nFROM $BASE\nRUN cat /base > /app\n", nil, "base"),
		dockerTarget(t, "base", "ARG IMG\nFROM $IMG\nRUN echo base > /base\n", map[string]string{"IMG": env.BaseImage()}),
	}
	var events []Event
	opts := Options{Tag: "t1", DefaultRepo: repo, Push: true, Concurrency: 2, CacheArtifacts: true, CacheDir: t.TempDir(),
		Events: func(e Event) { events = append(events, e) }}
	builds, err := Run(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) != 2 || builds[0].ImageName != "app" || builds[1].ImageName != "base" {
		t.Fatalf("builds = %+v", builds)
	}
	for _, b := range builds {
		if !strings.HasPrefix(b.Tag, repo+"/"+b.ImageName+":t1@sha256:") {
			t.Errorf("%s: tag %s", b.ImageName, b.Tag)
		}
	}
	if got := readFile(t, builds[0].Tag, "/app"); got != "base\n" {
		t.Errorf("app built on base: /app = %q", got)
	}
	var order []string
	for _, e := range events {
		if e.Kind == ArtifactDone {
			order = append(order, e.Artifact)
			if !e.Pushed {
				t.Errorf("%s was not pushed", e.Artifact)
			}
		}
	}
	if strings.Join(order, ",") != "base,app" {
		t.Errorf("build order %v, want base before app", order)
	}

	// A second run pushes nothing and is all cache hits.
	events = nil
	again, err := Run(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i] != builds[i] {
			t.Errorf("rebuild changed %s: %s", again[i].ImageName, again[i].Tag)
		}
	}
	for _, e := range events {
		if e.Kind == ArtifactDone && (e.Pushed || e.Cached != e.Steps) {
			t.Errorf("%s: pushed=%v, %d/%d cached", e.Artifact, e.Pushed, e.Cached, e.Steps)
		}
	}

	// Dry run: tags only.
	dry, err := Run(context.Background(), targets, Options{Tag: "t2", DefaultRepo: repo, DryRun: true})
	if err != nil || dry[1].Tag != repo+"/base:t2" {
		t.Errorf("dry run: %+v %v", dry, err)
	}
}

func TestRunLayoutAndCustom(t *testing.T) {
	env := testenv.Require(t)
	repo := strings.TrimSuffix(env.Repo(t, "x"), "/x")
	out := filepath.Join(t.TempDir(), "layout")
	custom := &config.Artifact{ImageName: "tool", Workspace: t.TempDir(),
		ArtifactType: config.ArtifactType{CustomArtifact: &config.CustomArtifact{BuildCommand: `echo "image=$IMAGE push=$PUSH_IMAGE base=$BASE ctx=$BUILD_CONTEXT"`}},
		Dependencies: []*config.ArtifactDependency{{ImageName: "base", Alias: "BASE"}}}
	targets := []Target{
		dockerTarget(t, "base", "ARG IMG\nFROM $IMG\nRUN echo base > /base\n", map[string]string{"IMG": env.BaseImage()}),
		{Artifact: custom},
	}
	var lines []string
	builds, err := Run(context.Background(), targets, Options{Tag: "t1", DefaultRepo: repo, OutputDir: out, CacheDir: t.TempDir(),
		Events: func(e Event) {
			if e.Kind == ArtifactOutput {
				lines = append(lines, e.Text)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := "image=" + repo + "/tool:t1 push=false base=" + builds[0].Tag + " ctx=" + custom.Workspace
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("custom output %q, want %q", lines, want)
	}
	p, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != repo+"/base:t1" {
		t.Errorf("layout index: %+v", m.Manifests)
	}
	if d := m.Manifests[0].Digest.String(); !strings.HasSuffix(builds[0].Tag, "@"+d) {
		t.Errorf("layout digest %s, build %s", d, builds[0].Tag)
	}
	// Nothing was pushed.
	baseRef, _ := name.ParseReference(repo + "/base:t1")
	if _, err := oci.New(oci.Options{}).Head(context.Background(), baseRef); err == nil {
		t.Error("base was pushed with push off")
	}

	// With push on, a custom command must push $IMAGE.
	_, err = Run(context.Background(), []Target{{Artifact: &config.Artifact{ImageName: "tool", Workspace: t.TempDir(),
		ArtifactType: config.ArtifactType{CustomArtifact: &config.CustomArtifact{BuildCommand: "true"}}}}},
		Options{Tag: "t1", DefaultRepo: repo, Push: true})
	if err == nil || !strings.Contains(err.Error(), "did not push $IMAGE") {
		t.Errorf("err = %v", err)
	}
}
