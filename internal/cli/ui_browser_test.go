package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/ui/browsertest"
)

// TestUIInABrowserOnSandbox opens skiff ui in headless Chromium over the
// example's review, staging and production deployed on the sandbox: the
// three rows with their versions, a new deploy appearing without a reload,
// a staging rollback to revision 1 and a review stop through the pages
// changing the cluster, screenshots at 1280 and 390 px under
// .skiff/ui/, and no secret or credential in any page.
func TestUIInABrowserOnSandbox(t *testing.T) {
	wide, narrow := browsertest.Artifact(t, "sandbox-environments-1280.png"), browsertest.Artifact(t, "sandbox-environments-390.png")
	ctx := browsertest.New(t)
	dir, app, client, never := uiProject(t)
	staging, production := app+"-staging", app+"-production"
	address := startUI(t, dir)
	base := address[:strings.Index(address, "/?key=")]
	do := func(a ...chromedp.Action[chromedp.Void]) { t.Helper(); browsertest.Do(t, ctx, a...) }
	text := func(sel string) string {
		t.Helper()
		return strings.TrimSpace(browsertest.Text(t, ctx, sel))
	}
	var pages []string
	keep := func() {
		t.Helper()
		pages = append(pages, browsertest.Get(t, ctx, chromedp.OuterHTML(chromedp.CSS("html"))))
	}
	row := func(ns string) string { return `tr[data-namespace="` + ns + `"]` }

	do(chromedp.Navigate(address), chromedp.WaitVisible(chromedp.CSS("#env-rows")))
	for ns, want := range map[string]string{staging: "v1.1.0", production: "v1.1.0"} {
		if v := text(row(ns) + " .version"); v != want {
			t.Errorf("namespace %s shows version %q, want %s", ns, v, want)
		}
	}
	review := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.querySelector('tr[data-environment="review"]').dataset.namespace`))
	if review == "" || !strings.Contains(text(row(review)), "feature/login") {
		t.Fatalf("no live review row for feature/login (namespace %q)", review)
	}
	keep()

	// A new deploy appears without a reload.
	do(chromedp.Poll[chromedp.Void](`document.body.dataset.updated !== undefined`), chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	writeApp(t, dir, "3", "")
	mustRun(t, dir, "env", "deploy", "staging", "--ref", "refs/tags/v1.2.0")
	do(chromedp.Poll[chromedp.Void](`document.querySelector('tr[data-namespace="` + staging + `"] .version').textContent.trim() === "v1.2.0"`))
	if !browsertest.Get(t, ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Error("the page was reloaded to show the deploy")
	}
	browsertest.Screenshot(t, ctx, 1280, 800, wide)
	browsertest.Screenshot(t, ctx, 390, 844, narrow)
	if w := browsertest.Get(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("at 390 px the page is %d px wide", w)
	}
	do(chromedp.EmulateViewport(1280, 800))
	keep()

	// Staging rolled back to revision 1 through the page.
	do(chromedp.Navigate(base+"/environments/staging/"+staging), chromedp.WaitVisible(chromedp.CSS("#rollback-1")))
	keep()
	do(browsertest.Click("#rollback-1"), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	keep()
	do(browsertest.Click("#confirm"), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if msg := text(".flash"); !strings.Contains(msg, "back from revision 3 to revision 1") {
		t.Errorf("after the rollback the page says %q", msg)
	}
	if v := configMapVersion(t, client, staging); v != "1" {
		t.Errorf("staging's version after the rollback through the page: %s", v)
	}
	do(chromedp.WaitVisible(chromedp.CSS("#revision-4")))
	keep()

	// The diff page between two revisions.
	do(chromedp.Navigate(base+"/environments/staging/"+staging+"/diff?from=1&to=3"), chromedp.WaitVisible(chromedp.CSS("main")))
	keep()

	// The review environment stopped through the page: its namespace goes.
	do(chromedp.Navigate(base+"/environments"), chromedp.WaitVisible(chromedp.CSS("#stop-"+review)),
		browsertest.Click("#stop-"+review), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	keep()
	do(browsertest.Click("#confirm"), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if msg := text(".flash"); !strings.Contains(msg, "namespace deleted") {
		t.Errorf("after the stop the page says %q", msg)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := client.CoreV1().Namespaces().Get(context.Background(), review, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s a minute after the stop: %v", review, err)
		}
		time.Sleep(time.Second)
	}
	keep()
	do(chromedp.Navigate(base+"/releases"), chromedp.WaitVisible(chromedp.CSS("main")))
	keep()
	noSecrets(t, pages, never)
}
