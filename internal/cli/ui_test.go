package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

var uiAddress = regexp.MustCompile(`skiff ui: open (http://\S+)`)

// startUI runs skiff ui with args in dir until the test ends and returns
// the address it printed (with the access key).
func startUI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	t.Chdir(dir)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"ui", "--listen", "127.0.0.1:0"}, args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("skiff ui exited with %d: %s", code, errb.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := uiAddress.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("skiff ui exited with %d: %s", code, errb.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("skiff ui printed no address within 30s: %s", errb.String())
	return ""
}

// browser is an HTTP client with the session of one browser.
type browser struct {
	t     *testing.T
	c     *http.Client
	base  string
	pages []string // every page read, for the secret check
}

func openUI(t *testing.T, address string) *browser {
	t.Helper()
	u, err := url.Parse(address)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, c: &http.Client{Jar: jar}, base: u.Scheme + "://" + u.Host}
	if code, html := b.do(http.MethodGet, strings.TrimPrefix(address, b.base), nil); code != http.StatusOK || !strings.Contains(html, "Environments") {
		t.Fatalf("opening the printed address: %d\n%s", code, html)
	}
	return b
}

// do sends a request as the page's own form would and returns the status
// and body after redirects.
func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	html, _ := io.ReadAll(resp.Body)
	b.pages = append(b.pages, string(html))
	return resp.StatusCode, string(html)
}

// page gets path and fails unless it is served and shows every want.
func (b *browser) page(path string, want ...string) string {
	b.t.Helper()
	code, html := b.do(http.MethodGet, path, nil)
	if code != http.StatusOK {
		b.t.Fatalf("GET %s: %d\n%s", path, code, html)
	}
	for _, w := range want {
		if !strings.Contains(html, w) {
			b.t.Errorf("GET %s lacks %q", path, w)
		}
	}
	return html
}

var tokenField = regexp.MustCompile(`name="token" value="([^"]+)"`)

// confirm opens a confirmation page and posts its form with extra fields.
func (b *browser) confirm(path string, form url.Values) string {
	b.t.Helper()
	m := tokenField.FindStringSubmatch(b.page(path))
	if m == nil {
		b.t.Fatalf("no token on %s", path)
	}
	form.Set("token", m[1])
	action, _, _ := strings.Cut(path, "?")
	code, html := b.do(http.MethodPost, action, form)
	if code != http.StatusOK {
		b.t.Fatalf("POST %s: %d\n%s", action, code, html)
	}
	return html
}

// uiProject deploys the example's three environments: review for a
// branch, staging and production from v1.0.0 (version 1) and v1.1.0
// (version 2). Each carries a Secret whose value no page may show.
func uiProject(t *testing.T) (dir, app string, client kubernetes.Interface, never []string) {
	e, client := onSandbox(t)
	dir, app = envProject(t, "")
	cleanupNamespaces(t, client, app)
	const secret = "ui-s3cr3t-value-never-shown"
	mustWrite(t, filepath.Join(dir, "k8s", "secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: "+secret+"}\n")
	mustRun(t, dir, "env", "deploy", "review", "--ref", "feature/login")
	mustRun(t, dir, "env", "deploy", "staging", "--ref", "refs/tags/v1.0.0")
	mustRun(t, dir, "env", "deploy", "production", "--ref", "refs/tags/v1.0.0", "--approve")
	writeApp(t, dir, "2", "")
	mustRun(t, dir, "env", "deploy", "staging", "--ref", "refs/tags/v1.1.0")
	mustRun(t, dir, "env", "deploy", "production", "--ref", "refs/tags/v1.1.0", "--approve")
	cfg, err := e.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	return dir, app, client, []string{secret, string(cfg.KeyData), string(cfg.CertData), cfg.BearerToken, cfg.Password}
}

// configMapVersion is the version the app's ConfigMap in namespace says.
func configMapVersion(t *testing.T, client kubernetes.Interface, namespace string) string {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(context.Background(), "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data["version"]
}

// noSecrets fails when a page shows one of never.
func noSecrets(t *testing.T, pages []string, never []string) {
	t.Helper()
	for _, html := range pages {
		for _, n := range never {
			if n != "" && strings.Contains(html, n) {
				t.Fatalf("a page shows a secret or credential (%.12q…)", n)
			}
		}
	}
}

// TestUIActionsOnSandbox runs skiff ui on the sandbox with three deployed
// environments and acts through its HTTP handlers as a browser's forms do:
// a staging rollback changes the cluster and the pages, a production
// rollback needs the approval, stopping the review environment removes its
// namespace, and no page shows a secret or credential.
func TestUIActionsOnSandbox(t *testing.T) {
	dir, app, client, never := uiProject(t)
	staging, production := app+"-staging", app+"-production"
	b := openUI(t, startUI(t, dir))

	list := b.page("/environments", staging, production, "feature/login", "v1.1.0")
	review := regexp.MustCompile(`data-environment="review" data-namespace="([^"]+)"`).FindStringSubmatch(list)
	if review == nil {
		t.Fatalf("no review row:\n%s", list)
	}
	b.page("/environments/staging/"+staging, `id="revision-2"`, "Deployment.apps "+staging+"/web", "Current")
	b.page("/environments/staging/"+staging+"/diff?from=1&to=2", "ConfigMap "+staging+"/settings")

	// Staging: rolled back to revision 1 through the confirmation form.
	html := b.confirm("/environments/staging/"+staging+"/rollback?revision=1", url.Values{"revision": {"1"}})
	if !strings.Contains(html, "back from revision 2 to revision 1") || !strings.Contains(html, `id="revision-3"`) {
		t.Errorf("after the rollback the staging page does not show it:\n%s", html)
	}
	if v := configMapVersion(t, client, staging); v != "1" {
		t.Errorf("staging's version after the rollback to revision 1: %s", v)
	}

	// Production: without the approval nothing changes and the page says why.
	html = b.confirm("/environments/production/"+production+"/rollback?revision=1", url.Values{"revision": {"1"}})
	if !strings.Contains(html, "approval required") || strings.Contains(html, `id="revision-3"`) {
		t.Errorf("a production rollback without approval:\n%s", html)
	}
	html = b.confirm("/environments/production/"+production+"/rollback?revision=1", url.Values{"revision": {"1"}, "approve": {"yes"}})
	if !strings.Contains(html, `id="revision-3"`) {
		t.Errorf("the approved production rollback is not on the page:\n%s", html)
	}
	if v := configMapVersion(t, client, production); v != "1" {
		t.Errorf("production's version after the approved rollback: %s", v)
	}

	// A namespace the page does not list cannot be acted on.
	code, _ := b.do(http.MethodGet, "/environments/staging/kube-system/rollback?revision=1", nil)
	if code != http.StatusNotFound {
		t.Errorf("a rollback page for a namespace not listed: %d, want 404", code)
	}
	token := tokenField.FindStringSubmatch(b.page("/environments/staging/" + staging + "/rollback?revision=1"))[1]
	b.do(http.MethodPost, "/environments/staging/kube-system/rollback", url.Values{"revision": {"1"}, "token": {token}})
	if cms, err := client.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "settings", metav1.GetOptions{}); err == nil {
		t.Errorf("a rollback into a namespace not listed applied %s", cms.Name)
	}

	// Review: stopped; its namespace goes and the list no longer shows it.
	html = b.confirm("/environments/review/"+review[1]+"/stop", url.Values{})
	if !strings.Contains(html, "namespace deleted") || strings.Contains(html, `data-namespace="`+review[1]+`"`) {
		t.Errorf("after stopping review:\n%s", html)
	}
	if _, err := client.CoreV1().Namespaces().Get(context.Background(), review[1], metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after the stop: %v", review[1], err)
	}
	noSecrets(t, b.pages, never)
}

// TestUIReadOnlyAndListen: --read-only refuses actions, and a non-loopback
// --listen needs --allow-remote.
func TestUIReadOnlyAndListen(t *testing.T) {
	_, stderr, code := run(t, "", "ui", "--listen", "0.0.0.0:7420")
	if code != ExitUsage || !strings.Contains(stderr, "--allow-remote") {
		t.Errorf("ui --listen 0.0.0.0:7420: exit %d, %s", code, stderr)
	}
	if testing.Short() {
		return
	}
	_, client := onSandbox(t)
	dir, app := envProject(t, "")
	cleanupNamespaces(t, client, app)
	mustRun(t, dir, "env", "deploy", "staging")
	mustRun(t, dir, "env", "deploy", "staging")
	b := openUI(t, startUI(t, dir, "--read-only"))
	html := b.page("/environments/staging/" + app + "-staging")
	if strings.Contains(html, "/rollback") {
		t.Error("a read-only page offers a rollback")
	}
	code, _ = b.do(http.MethodPost, "/environments/staging/"+app+"-staging/rollback", url.Values{"revision": {"1"}})
	if code != http.StatusForbidden {
		t.Errorf("read-only rollback: %d, want 403", code)
	}
	if v := configMapVersion(t, client, app+"-staging"); v != "1" {
		t.Errorf("version %s after a refused rollback", v)
	}
}
