package dev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// fakeBuilder builds by counting: each build of an image gets a new digest.
// A Dockerfile containing "BROKEN" fails, as a real one that does not parse.
type fakeBuilder struct {
	mu     sync.Mutex
	builds map[string]int
}

func (b *fakeBuilder) Build(_ context.Context, p *config.Project, arts []*config.Artifact, built map[string]string) ([]artifact.Build, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []artifact.Build
	building := map[string]bool{}
	for _, a := range arts {
		building[a.ImageName] = true
	}
	for _, a := range arts {
		// As build.Run: what an artifact requires is built with it or
		// comes from the session's current builds.
		for _, d := range a.Dependencies {
			if _, ok := built[d.ImageName]; !ok && !building[d.ImageName] {
				return nil, fmt.Errorf("%s requires %s, which is not built", a.ImageName, d.ImageName)
			}
		}
		df, _ := os.ReadFile(filepath.Join(p.WorkDir, a.Workspace, "Dockerfile"))
		if strings.Contains(string(df), "BROKEN") {
			return nil, fmt.Errorf("building %s: Dockerfile:1: unknown instruction BROKEN", a.ImageName)
		}
		b.builds[a.ImageName]++
		out = append(out, artifact.Build{ImageName: a.ImageName, Tag: fmt.Sprintf("%s:dev@sha256:%064d", a.ImageName, b.builds[a.ImageName])})
	}
	return out, nil
}

type fakeRenderer struct{}

func (fakeRenderer) Render(context.Context, *config.Project, []artifact.Build) ([]manifest.Object, error) {
	return nil, nil
}

type fakeDeployer struct {
	mu       sync.Mutex
	deploys  int
	cleanups int
}

func (d *fakeDeployer) Deploy(context.Context, []manifest.Object) ([]apply.Change, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deploys++
	return nil, nil
}

func (d *fakeDeployer) Cleanup(context.Context) ([]apply.Change, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cleanups++
	return nil, nil
}

// loop runs a Runner on a project on disk and hands its events to the test.
type loop struct {
	dir      string
	events   chan Event
	deployer *fakeDeployer
	builder  *fakeBuilder
	enter    *io.PipeWriter
	cancel   context.CancelFunc
	done     chan error
}

func startLoop(t *testing.T, files map[string]string, opts Options) *loop {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, files)
	load := func() (*config.Project, error) { return config.Load(config.LoadOptions{WorkDir: dir}) }
	p, err := load()
	if err != nil {
		t.Fatal(err)
	}
	l := &loop{dir: dir, events: make(chan Event, 100), deployer: &fakeDeployer{}, builder: &fakeBuilder{builds: map[string]int{}}, done: make(chan error, 1)}
	pr, pw := io.Pipe()
	l.enter = pw
	r := &Runner{
		Options: opts, Project: p, Load: load, Builder: l.builder, Renderer: fakeRenderer{}, Deployer: l.deployer,
		Input: pr, Events: func(e Event) { l.events <- e },
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		pw.Close()
		<-l.done
	})
	l.next(t, Watching)
	return l
}

// next waits for the next event of kind, failing on events in between
// that report failures unless they are what is waited for. The deadline
// only keeps a broken loop from hanging the test.
func (l *loop) next(t *testing.T, kind EventKind) Event {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case e := <-l.events:
			if e.Kind == kind {
				return e
			}
			if e.Kind == BuildFailed || e.Kind == DeployFailed {
				t.Fatalf("unexpected failure: %v", e.Err)
			}
		case <-timeout:
			t.Fatalf("no event of kind %d", kind)
		}
	}
}

func images(builds []artifact.Build) []string {
	var out []string
	for _, b := range builds {
		out = append(out, b.ImageName)
	}
	slices.Sort(out)
	return out
}

const twoArtifacts = `apiVersion: skaffold/v4beta11
kind: Config
build:
  tagPolicy: {sha256: {}}
  artifacts:
    - image: web
      context: web
    - image: api
      context: api
manifests:
  rawYaml: [k8s.yaml]
`

func loopFiles() map[string]string {
	return map[string]string{
		"skaffold.yaml":  twoArtifacts,
		"web/Dockerfile": "FROM scratch\nCOPY index.html /\n",
		"web/index.html": "v1",
		"api/Dockerfile": "FROM scratch\nCOPY main.txt /\n",
		"api/main.txt":   "v1",
		"k8s.yaml":       "",
	}
}

func TestRunnerLoop(t *testing.T) {
	t.Parallel()
	l := startLoop(t, loopFiles(), DefaultOptions())

	t.Run("a change rebuilds its artifact and redeploys", func(t *testing.T) {
		writeTree(t, l.dir, map[string]string{"api/main.txt": "v2"})
		if got := images(l.next(t, Built).Builds); !slices.Equal(got, []string{"api"}) {
			t.Errorf("built %v, want [api]", got)
		}
		l.next(t, Deployed)
	})
	t.Run("a failed build waits for the fix", func(t *testing.T) {
		writeTree(t, l.dir, map[string]string{"web/Dockerfile": "BROKEN\n"})
		l.next(t, BuildFailed)
		writeTree(t, l.dir, map[string]string{"web/Dockerfile": "FROM scratch\nCOPY index.html /www/\n"})
		if got := images(l.next(t, Built).Builds); !slices.Equal(got, []string{"web"}) {
			t.Errorf("built %v, want [web]", got)
		}
		l.next(t, Deployed)
	})
	t.Run("a changed configuration reloads and rebuilds what changed", func(t *testing.T) {
		cfg := strings.Replace(twoArtifacts, "      context: api\n", "      context: api\n      docker:\n        buildArgs: {MODE: debug}\n", 1)
		writeTree(t, l.dir, map[string]string{"skaffold.yaml": cfg})
		l.next(t, Phase) // configuration reloaded
		if got := images(l.next(t, Built).Builds); !slices.Equal(got, []string{"api"}) {
			t.Errorf("built %v, want [api]", got)
		}
		l.next(t, Deployed)
	})
	t.Run("a manifest change redeploys without building", func(t *testing.T) {
		writeTree(t, l.dir, map[string]string{"k8s.yaml": "# changed\n"})
		if e := l.next(t, ChangesSeen); len(e.Plan.Rebuild) > 0 || !e.Plan.Redeploy {
			t.Errorf("plan for a manifest change: %+v", e.Plan)
		}
		l.next(t, Deployed)
	})
}

func TestRunnerWaitsForEnterWithoutAutoBuild(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.AutoBuild = false
	l := startLoop(t, loopFiles(), opts)
	writeTree(t, l.dir, map[string]string{"web/index.html": "v2"})
	if e := l.next(t, Pending); !strings.Contains(e.Message, "press Enter to build") {
		t.Errorf("pending message %q", e.Message)
	}
	if _, err := io.WriteString(l.enter, "\n"); err != nil {
		t.Fatal(err)
	}
	if got := images(l.next(t, Built).Builds); !slices.Equal(got, []string{"web"}) {
		t.Errorf("built %v, want [web]", got)
	}
	l.next(t, Deployed)
}

func TestRunnerCleansUpOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	for _, cleanup := range []bool{true, false} {
		opts := DefaultOptions()
		opts.Cleanup = cleanup
		l := startLoop(t, loopFiles(), opts)
		l.cancel()
		if err := <-l.done; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		l.done <- nil // for the cleanup registered by startLoop
		want := 0
		if cleanup {
			want = 1
		}
		if l.deployer.cleanups != want {
			t.Errorf("cleanup=%v: %d cleanups, want %d", cleanup, l.deployer.cleanups, want)
		}
	}
}

// TestRunnerRequires checks that a change to an artifact that requires
// another rebuilds only it, with the other's current build as its
// requires reference (the fake builder fails otherwise, as build.Run).
func TestRunnerRequires(t *testing.T) {
	t.Parallel()
	files := loopFiles()
	files["skaffold.yaml"] = strings.Replace(twoArtifacts, "      context: api\n", "      context: api\n      requires: [{image: web, alias: WEB}]\n", 1)
	l := startLoop(t, files, DefaultOptions())
	writeTree(t, l.dir, map[string]string{"api/main.txt": "v2"})
	if got := images(l.next(t, Built).Builds); !slices.Equal(got, []string{"api"}) {
		t.Errorf("built %v, want [api] alone", got)
	}
	l.next(t, Deployed)
	writeTree(t, l.dir, map[string]string{"web/index.html": "v2"})
	if got := images(l.next(t, Built).Builds); !slices.Equal(got, []string{"api", "web"}) {
		t.Errorf("built %v, want web and api, which requires it", got)
	}
}
