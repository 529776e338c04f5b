package cluster_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/testenv"
	"github.com/skiff-dev/skiff/internal/ui"
	"github.com/skiff-dev/skiff/internal/ui/cluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const app = "uitest"

func manifests(t *testing.T, ns, version string) []manifest.Object {
	t.Helper()
	objs, err := manifest.Parse([]byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: `+ns+`}
data: {version: "`+version+`"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: `+ns+`}
stringData: {password: "pw-`+version+`-s3cr3t-value"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: `+ns+`}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "busybox:1.36"}]
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// list is a small environment list for the test: the namespaces labelled
// with the app, each with its latest revision.
func list(kube kubernetes.Interface, a *apply.Applier) func(ctx context.Context) ([]ui.Environment, error) {
	return func(ctx context.Context) ([]ui.Environment, error) {
		nss, err := env.ListNamespaces(ctx, kube, app, "")
		if err != nil {
			return nil, err
		}
		var out []ui.Environment
		for _, ns := range nss {
			e := ui.Environment{ID: ui.ID{Name: "staging", Namespace: ns.Name}, Exists: true, Configured: true}
			recs, err := a.Records().List(ctx, ns.Name, app)
			if err != nil {
				return nil, err
			}
			if n := len(recs); n > 0 {
				e.Revision, e.Status, e.Version = recs[n-1].Revision, string(recs[n-1].Status), recs[n-1].Tag
			}
			out = append(out, e)
		}
		return out, nil
	}
}

type client struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (c *client) get(path string) (int, string) {
	c.t.Helper()
	resp, err := c.c.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// events reads the event stream of path, sending each event's name and data.
func (c *client) events(ctx context.Context, path string) <-chan [2]string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	out := make(chan [2]string, 100)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var name string
		var data []string
		for sc.Scan() {
			switch l := sc.Text(); {
			case l == "" && name != "":
				out <- [2]string{name, strings.Join(data, "\n")}
				name, data = "", nil
			case strings.HasPrefix(l, "event: "):
				name = l[7:]
			case strings.HasPrefix(l, "data: "):
				data = append(data, l[6:])
			}
		}
	}()
	return out
}

// await waits for an event named name whose data contains want.
func await(t *testing.T, events <-chan [2]string, name, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev[0] == name && strings.Contains(ev[1], want) {
				return
			}
		case <-timeout:
			t.Fatalf("no %s event with %q within 30s", name, want)
		}
	}
}

// TestPagesOnTheSandbox serves the pages from the sandbox cluster: history,
// inventory status, a diff, live updates from watches (a new revision, a
// new environment), no secret or credential in any page, and read-only mode.
func TestPagesOnTheSandbox(t *testing.T) {
	e := testenv.Require(t)
	cfg, err := e.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	a, err := apply.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kube := e.Clientset(t)
	ctx := t.Context()
	ns := e.Namespace(t, "ui")
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json", []byte(`{"metadata":{"labels":{"`+env.LabelApp+`":"`+app+`"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	opts := apply.DefaultOptions()
	opts.App, opts.Namespace, opts.StatusCheckDeadline = app, ns, 2*time.Minute
	opts.Release.Tag = "v1.0.0"
	if _, err := a.Apply(ctx, manifests(t, ns, "1"), opts); err != nil {
		t.Fatal(err)
	}

	src := &cluster.Source{App: app, List: list(kube, a), Clients: func(ui.ID) (cluster.Clients, error) { return cluster.Clients{Applier: a, Kube: kube}, nil }}
	ts := httptest.NewServer(nil)
	srv, err := ui.New(ui.Options{App: app, Source: src, ReadOnly: true, Listen: ts.Listener.Addr().String(), Debounce: 50 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	t.Cleanup(func() { srv.Close(); ts.Close() })
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, c: &http.Client{Jar: jar}, base: ts.URL}
	if code, _ := c.get(strings.TrimPrefix(srv.URL(ts.URL), ts.URL)); code != http.StatusOK {
		t.Fatalf("opening the printed address: %d", code)
	}
	id := ui.ID{Name: "staging", Namespace: ns}
	envPath := "/environments/staging/" + ns
	var pages []string
	check := func(path string, want ...string) {
		t.Helper()
		code, html := c.get(path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, code, html)
		}
		for _, w := range want {
			if !strings.Contains(html, w) {
				t.Errorf("GET %s lacks %q", path, w)
			}
		}
		pages = append(pages, html)
	}

	// Live: the environment page's stream sees the next revision, the
	// environments page's stream a new environment namespace.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	envEvents := c.events(sctx, "/events?view=environment&name=staging&namespace="+url.QueryEscape(ns))
	listEvents := c.events(sctx, "/events?view=environments")
	await(t, envEvents, "history-rows", `id="revision-1"`)
	await(t, listEvents, "env-rows", ns)

	opts.Release.Tag = "v1.1.0"
	if _, err := a.Apply(ctx, manifests(t, ns, "2"), opts); err != nil {
		t.Fatal(err)
	}
	await(t, envEvents, "history-rows", `id="revision-2"`)
	await(t, listEvents, "env-rows", "v1.1.0")
	other := e.Namespace(t, "ui-review")
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, other, "application/merge-patch+json", []byte(`{"metadata":{"labels":{"`+env.LabelApp+`":"`+app+`"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	await(t, listEvents, "env-rows", other)

	check(envPath, `id="revision-2"`, `id="revision-1"`, "v1.1.0", "Deployment.apps "+ns+"/web", "Current", "ConfigMap "+ns+"/settings")
	check(envPath+"/diff?from=1&to=2", "ConfigMap "+ns+"/settings", "(secret value, 17 bytes, changed)")
	check("/environments", "v1.1.0")
	check("/releases", "No releases yet")
	if _, err := src.Diff(ctx, id, 1, 9); err == nil {
		t.Error("a diff with a revision that does not exist did not fail")
	}

	// Read-only: nothing to act with, and acting is refused.
	resp, err := c.c.PostForm(ts.URL+envPath+"/rollback", url.Values{"revision": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only rollback: %d, want 403", resp.StatusCode)
	}
	if recs, _ := a.Records().List(ctx, ns, app); len(recs) != 2 {
		t.Errorf("read-only mode changed the history: %d revisions", len(recs))
	}

	// No secret value and no credential of the kubeconfig in any page.
	var secrets corev1.SecretList
	if l, err := kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		secrets = *l
	}
	never := []string{"s3cr3t", string(cfg.KeyData), string(cfg.CertData), cfg.BearerToken, cfg.Password}
	for _, s := range secrets.Items {
		for _, v := range s.Data {
			if len(v) > 8 {
				never = append(never, string(v))
			}
		}
	}
	for _, html := range pages {
		for _, n := range never {
			if n != "" && strings.Contains(html, n) {
				t.Fatalf("a page shows a secret or credential (%.12q…)", n)
			}
		}
	}
}

func TestCommitURL(t *testing.T) {
	for _, tt := range []struct{ remote, want string }{
		{"https://gitlab.com/group/sub/myapp.git", "https://gitlab.com/group/sub/myapp/-/commit/abc"},
		{"git@github.com:org/myapp.git", "https://github.com/org/myapp/commit/abc"},
		{"ssh://git@gitlab.example.com:2222/group/myapp.git", "https://gitlab.example.com/group/myapp/-/commit/abc"},
		{"https://git.example.com/x/y.git", ""},
		{"https://ci:gl-t0ken@gitlab.example.com/group/myapp.git", "https://gitlab.example.com/group/myapp/-/commit/abc"},
		{"/srv/git/myapp.git", ""},
		{"", ""},
	} {
		if got := cluster.CommitURL(tt.remote, "abc"); got != tt.want {
			t.Errorf("CommitURL(%q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}
