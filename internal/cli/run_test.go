package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRunBuildsTestsDeploys runs skiff run on a project with a Dockerfile
// artifact and a structure test, then again with --tail until interrupted.
func TestRunBuildsTestsDeploys(t *testing.T) {
	e, client := onSandbox(t)
	dir, app := envProject(t, "")
	cleanupNamespaces(t, client, app)
	ns := e.Namespace(t, "run")
	t.Setenv("SKAFFOLD_DEFAULT_REPO", e.Registry()+"/"+app)
	mustWrite(t, dir+"/skiff.yaml", "apiVersion: skiff/v1\nkind: Config\nmetadata: {name: "+app+"}\n"+
		"build:\n  artifacts:\n    - image: web\n      docker:\n        buildArgs: {BASE: "+e.BaseImage()+"}\n"+
		"test:\n  - image: web\n    structureTests: [structure.yaml]\n"+
		"manifests:\n  rawYaml: [k8s/*.yaml]\n")
	mustWrite(t, dir+"/Dockerfile", "ARG BASE\nFROM $BASE\nRUN echo built > /built.txt\nCMD [\"sh\"]\n")
	mustWrite(t, dir+"/structure.yaml", "schemaVersion: 2.0.0\nfileContentTests:\n- {name: built, path: /built.txt, expectedContents: [built]}\n")
	writeApp(t, dir, "1", "")
	mustWrite(t, dir+"/k8s/app.yaml", strings.Replace(readFile(t, dir+"/k8s/app.yaml"), `image: "busybox:1.36"`, "image: web", 1))

	out := mustRun(t, dir, "run", "-n", ns)
	for _, want := range []string{"1 tests, 1 passed, 0 failed", "Deployment.apps " + ns + "/web created"} {
		if !strings.Contains(out, want) {
			t.Errorf("skiff run output lacks %q:\n%s", want, out)
		}
	}
	dep, err := client.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil || !strings.Contains(dep.Spec.Template.Spec.Containers[0].Image, "/"+app+"/web:") {
		t.Fatalf("deployed image: %v %v", dep, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"run", "-n", ns, "--tail", "--skip-tests"}, Streams{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
	}()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(stderr.String(), "streaming logs") {
		select {
		case code := <-done:
			t.Fatalf("run --tail ended by itself: exit %d\n%s", code, stderr.String())
		case <-deadline:
			t.Fatalf("run --tail never started streaming:\n%s", stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run --tail interrupted: exit %d\n%s", code, stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
