package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestEnvForwardServesExampleOnRealNode builds the example's image with
// skiff build, deploys it to staging on the sandbox's real node with skiff
// env deploy, and fetches its page through skiff env forward: the image
// skiff built runs as a real process and serves.
func TestEnvForwardServesExampleOnRealNode(t *testing.T) {
	e, client := onSandbox(t)
	node := e.RealNode(t)
	dir, app := copyExample(t)
	// Staging's namespace is one whose pods go to the real node.
	ns := node.Namespace(t, "example")
	cfg := filepath.Join(dir, "skiff.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("namespace: "+app+"-staging\n")) {
		t.Fatalf("%s has no staging namespace %s-staging", cfg, app)
	}
	mustWrite(t, cfg, strings.Replace(string(data), "namespace: "+app+"-staging\n", "namespace: "+ns+"\n", 1))
	t.Setenv("SKAFFOLD_DEFAULT_REPO", e.Registry()+"/"+app)
	t.Setenv("BASE_IMAGE", e.BaseImage())

	mustRun(t, dir, "build", "--file-output", "build.json")
	mustRun(t, dir, "env", "deploy", "staging", "-a", "build.json")
	pods, err := client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatalf("no pods in %s after env deploy staging", ns)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != node.Name {
			t.Errorf("pod %s runs on %q, want the real node %s", p.Name, p.Spec.NodeName, node.Name)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"env", "forward", "staging"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("skiff env forward staging: exit %d after Ctrl-C\nstderr: %s", code, errb.String())
		}
	})
	line := regexp.MustCompile(`(?m)^Port forwarding service/myapp port 80 \(namespace ` + ns + `\) on (127\.0\.0\.1:\d+)$`)
	var addr string
	for deadline := time.Now().Add(30 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := line.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("skiff env forward staging printed no address\nstdout: %s\nstderr: %s", out.String(), errb.String())
	}
	want, err := os.ReadFile(filepath.Join(dir, "site", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET through the forward: %v\nstderr: %s", err, errb.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != string(want) {
		t.Errorf("GET http://%s/: %d %q, want 200 and site/index.html", addr, resp.StatusCode, body)
	}
}
