package dev_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/skiff-dev/skiff/internal/dev"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// The example project: two docker artifacts (web syncs its site/ files
// into www/ relative to the container's working directory), rawYaml
// manifests and a portForward entry.
var projectFiles = map[string]string{
	"skaffold.yaml": `apiVersion: skaffold/v4beta11
kind: Config
metadata:
  name: devtest
build:
  tagPolicy:
    sha256: {}
  artifacts:
    - image: web
      context: web
      docker:
        buildArgs:
          BASE: '{{.BASE_IMAGE}}'
      sync:
        manual:
          - src: 'site/**'
            dest: www
            strip: site/
    - image: api
      context: api
      docker:
        buildArgs:
          BASE: '{{.BASE_IMAGE}}'
manifests:
  rawYaml: [k8s/*.yaml]
portForward:
  - resourceType: service
    resourceName: web
    port: 80
`,
	"web/Dockerfile":      "ARG BASE\nFROM ${BASE}\nCOPY site/ /www/\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
	"web/site/index.html": "<p>v1</p>\n",
	"web/README.md":       "not copied into the image\n",
	"api/Dockerfile":      "ARG BASE\nFROM ${BASE}\nCOPY main.txt /app/main.txt\n",
	"api/main.txt":        "api v1\n",
	"k8s/web.yaml":        deploymentYAML("web") + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n    - port: 80\n      targetPort: http\n",
	"k8s/api.yaml":        deploymentYAML("api"),
}

func deploymentYAML(name string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
        - name: %[1]s
          image: %[1]s
          ports:
            - name: http
              containerPort: 8080
`, name)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newProject(t *testing.T) string {
	dir := t.TempDir()
	for name, content := range projectFiles {
		if strings.HasSuffix(name, "/") {
			continue
		}
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

// kwokObjects makes kwok stand in for the containers of namespace ns:
// exec runs in workDir on this machine, logs come from logFile, and
// port-forwards reach target. They select ns only, so other tests' pods are
// not affected.
func kwokObjects(t *testing.T, env *testenv.Env, ns, workDir, logFile, target string) {
	t.Helper()
	dyn := env.Dynamic(t)
	host, port, _ := strings.Cut(target, ":")
	docs := []string{
		fmt.Sprintf("kind: ClusterExec\nspec:\n  selector: {matchNamespaces: [%s]}\n  execs: [{local: {workDir: %s}}]\n", ns, workDir),
		fmt.Sprintf("kind: ClusterLogs\nspec:\n  selector: {matchNamespaces: [%s]}\n  logs: [{logsFile: %s, follow: true}]\n", ns, logFile),
		fmt.Sprintf("kind: ClusterPortForward\nspec:\n  selector: {matchNamespaces: [%s]}\n  forwards: [{target: {address: %s, port: %s}}]\n", ns, host, port),
	}
	for _, doc := range docs {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatal(err)
		}
		obj.SetAPIVersion("kwok.x-k8s.io/v1alpha1")
		obj.SetName(ns)
		resources := map[string]string{"ClusterExec": "clusterexecs", "ClusterLogs": "clusterlogs", "ClusterPortForward": "clusterportforwards"}
		gvr := schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: resources[obj.GetKind()]}
		res := dyn.Resource(gvr)
		if _, err := res.Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating kwok %s: %v", obj.GetKind(), err)
		}
		t.Cleanup(func() {
			_ = res.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{})
		})
	}
}

func image(t *testing.T, cs kubernetes.Interface, ns, name string) (string, int64) {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s: %v", name, err)
	}
	return d.Spec.Template.Spec.Containers[0].Image, d.Generation
}

// TestDevLoop follows one session through what a developer does: it
// deploys into a dev namespace of its own, streams logs, forwards a port,
// rebuilds only what changed, syncs files without rebuilding, survives a
// broken Dockerfile, and removes everything on Ctrl-C.
func TestDevLoop(t *testing.T) {
	t.Parallel()
	env := testenv.Require(t)
	cs := env.Clientset(t)
	dir := newProject(t)
	user := "t" + randomHex(4)
	ns, err := dev.NamespaceFor("devtest", user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	container := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "container.log")
	writeFile(t, logFile, "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "answered through the port-forward")
	}))
	defer srv.Close()
	kwokObjects(t, env, ns, container, logFile, strings.TrimPrefix(srv.URL, "http://"))

	p := startDev(t, env, dir, []string{"USER=" + user})
	_, pos := p.waitFor(t, 0, `^Watching for changes`)

	t.Run("deploys into the dev namespace", func(t *testing.T) {
		got, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Labels["skiff.dev/environment"] != "dev" || got.Labels["app.kubernetes.io/managed-by"] != "skiff" {
			t.Errorf("namespace labels %v", got.Labels)
		}
		for _, name := range []string{"web", "api"} {
			if img, _ := image(t, cs, ns, name); !strings.Contains(img, "@sha256:") {
				t.Errorf("deployment %s runs %s, not a built image", name, img)
			}
		}
	})

	t.Run("streams the pod's logs", func(t *testing.T) {
		word := "hello-" + randomHex(4)
		f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "%s stdout F %s\n", time.Now().UTC().Format(time.RFC3339Nano), word)
		f.Close()
		p.waitFor(t, 0, `^\[web-[a-z0-9]+-[a-z0-9]+/web\] `+word+`$`)
	})

	t.Run("forwards the portForward entry", func(t *testing.T) {
		m, _ := p.waitFor(t, 0, `^Port forwarding service/web port 80 \(namespace `+ns+`\) on (\S+)$`)
		resp, err := http.Get("http://" + m[1] + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "answered through the port-forward" {
			t.Errorf("forwarded port answered %q", body)
		}
	})

	t.Run("a source change rebuilds only its artifact", func(t *testing.T) {
		webBefore, webGen := image(t, cs, ns, "web")
		apiBefore, _ := image(t, cs, ns, "api")
		from := p.mark()
		writeFile(t, filepath.Join(dir, "api/main.txt"), "api v2\n")
		_, pos = p.waitFor(t, from, `^Deploy complete`)
		if !p.printedSince(from, "Building api") || p.printedSince(from, "Building web") {
			t.Errorf("want api rebuilt and web not:\n%s", strings.Join(p.lines(from), "\n"))
		}
		if img, _ := image(t, cs, ns, "api"); img == apiBefore {
			t.Errorf("api still runs %s", img)
		}
		if img, gen := image(t, cs, ns, "web"); img != webBefore || gen != webGen {
			t.Errorf("web changed: %s (generation %d), was %s (%d)", img, gen, webBefore, webGen)
		}
	})

	t.Run("a synced file is copied without a rebuild", func(t *testing.T) {
		from := p.mark()
		writeFile(t, filepath.Join(dir, "web/site/index.html"), "<p>v2</p>\n")
		p.waitFor(t, from, `^Synced 1 file to web in \S+ \(`+ns+`/web-`)
		got, err := os.ReadFile(filepath.Join(container, "www/index.html"))
		if err != nil || string(got) != "<p>v2</p>\n" {
			t.Errorf("file in the container: %q, %v", got, err)
		}
		if p.printedSince(from, "Building web") {
			t.Errorf("web was rebuilt:\n%s", strings.Join(p.lines(from), "\n"))
		}
	})

	t.Run("a file the image does not contain does nothing", func(t *testing.T) {
		from := p.mark()
		writeFile(t, filepath.Join(dir, "web/README.md"), "still not copied\n")
		// The next change proves the README was seen and ignored: nothing
		// printed about it before the next change's line.
		writeFile(t, filepath.Join(dir, "web/site/index.html"), "<p>v3</p>\n")
		p.waitFor(t, from, `^Synced 1 file to web`)
		if p.printedSince(from, "README") || p.printedSince(from, "Building") {
			t.Errorf("README.md triggered work:\n%s", strings.Join(p.lines(from), "\n"))
		}
	})

	t.Run("the forwarded port reaches the new pod after a redeploy", func(t *testing.T) {
		m, _ := p.waitFor(t, 0, `^Port forwarding service/web port 80 \(namespace `+ns+`\) on (\S+)$`)
		before, _ := image(t, cs, ns, "web")
		from := p.mark()
		writeFile(t, filepath.Join(dir, "web/Dockerfile"), strings.Replace(projectFiles["web/Dockerfile"], "COPY", "ENV MODE=dev\nCOPY", 1))
		p.waitFor(t, from, `^Deploy complete`)
		if img, _ := image(t, cs, ns, "web"); img == before {
			t.Fatalf("web still runs %s", img)
		}
		resp, err := http.Get("http://" + m[1] + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "answered through the port-forward" {
			t.Errorf("forwarded port answered %q after the redeploy", body)
		}
		if p.printedSince(from, "Port forwarding") {
			t.Errorf("the forward moved:\n%s", strings.Join(p.lines(from), "\n"))
		}
	})

	t.Run("a broken Dockerfile shows the error and the fix recovers", func(t *testing.T) {
		apiBefore, _ := image(t, cs, ns, "api")
		from := p.mark()
		writeFile(t, filepath.Join(dir, "api/Dockerfile"), "ARG BASE\nFROM ${BASE}\nCOPYY main.txt /app/main.txt\n")
		_, next := p.waitFor(t, from, `^Build failed: .*Dockerfile`)
		writeFile(t, filepath.Join(dir, "api/Dockerfile"), "ARG BASE\nFROM ${BASE}\nCOPY main.txt /srv/main.txt\n")
		p.waitFor(t, next, `^Deploy complete`)
		if img, _ := image(t, cs, ns, "api"); img == apiBefore {
			t.Errorf("api still runs %s after the fix", img)
		}
	})

	t.Run("Ctrl-C removes everything it created", func(t *testing.T) {
		p.interrupt(t)
		p.waitFor(t, pos, `^Cleanup complete`)
		_, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s after cleanup: %v", ns, err)
		}
	})
}

// TestDevInExistingNamespace runs in a namespace skiff did not create,
// with the polling trigger: cleanup deletes what it deployed and leaves
// the namespace; --cleanup=false leaves everything.
func TestDevInExistingNamespace(t *testing.T) {
	t.Parallel()
	env := testenv.Require(t)
	cs := env.Clientset(t)
	for _, cleanup := range []bool{true, false} {
		t.Run(fmt.Sprintf("cleanup=%v", cleanup), func(t *testing.T) {
			t.Parallel()
			ns := env.Namespace(t, "devtest")
			dir := newProject(t)
			p := startDev(t, env, dir, nil, "-n", ns, "--trigger=polling", "--watch-poll-interval=200", "--port-forward=off", "--tail=false", fmt.Sprintf("--cleanup=%v", cleanup))
			_, pos := p.waitFor(t, 0, `^Watching for changes \(polling every 200ms\)`)
			before, _ := image(t, cs, ns, "api")
			writeFile(t, filepath.Join(dir, "api/main.txt"), "api v2\n")
			p.waitFor(t, pos, `^Deploy complete`)
			if img, _ := image(t, cs, ns, "api"); img == before {
				t.Errorf("api still runs %s", img)
			}
			p.interrupt(t)
			_, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "api", metav1.GetOptions{})
			switch {
			case cleanup && !apierrors.IsNotFound(err):
				t.Errorf("deployment api after cleanup: %v", err)
			case !cleanup && err != nil:
				t.Errorf("deployment api with --cleanup=false: %v", err)
			}
			if _, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{}); err != nil {
				t.Errorf("namespace %s, which skiff did not create: %v", ns, err)
			}
		})
	}
}
