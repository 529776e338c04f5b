package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/skiff-dev/skiff/internal/ui/browsertest"
)

// TestPagesInABrowser drives the pages with the fake in headless Chromium:
// live updates without a reload, keyboard access, the confirmation of a
// protected rollback, and the layout at both widths.
func TestPagesInABrowser(t *testing.T) {
	f := example()
	s, ts := testServer(t, f, false)
	ctx := browsertest.New(t) // closed before the server
	do := func(a ...chromedp.Action[chromedp.Void]) { t.Helper(); browsertest.Do(t, ctx, a...) }
	text := func(sel string) string { t.Helper(); return browsertest.Text(t, ctx, sel) }

	do(chromedp.Navigate(s.URL(ts.URL)), chromedp.WaitVisible(chromedp.CSS("#env-rows")))
	if loc := browsertest.Get(t, ctx, chromedp.Location()); loc != ts.URL+"/environments" {
		t.Errorf("the printed address led to %s", loc)
	}
	if v := text("#env-staging-myapp-staging .version"); v != "v1.1.0" {
		t.Errorf("staging shows version %q", v)
	}
	do(chromedp.Poll[chromedp.Void](`document.body.dataset.updated !== undefined`))
	<-f.watching

	// A new deploy appears without a reload.
	do(chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	f.change(staging.Namespace, func(f *fakeSource) { f.envs[1].Version, f.envs[1].Revision = "v1.2.0", 3 })
	do(chromedp.Poll[chromedp.Void](`document.querySelector("#env-staging-myapp-staging .version").textContent.trim() === "v1.2.0"`))
	if ok := browsertest.Get(t, ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); !ok {
		t.Error("the page was reloaded to show the deploy")
	}
	if live := text("#live-status"); !strings.HasPrefix(live, "Live · updated") {
		t.Errorf("live status says %q", live)
	}

	browsertest.Screenshot(t, ctx, 1280, 800, browsertest.Artifact(t, "fake-environments-1280.png"))
	if w := browsertest.Get(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 1280 {
		t.Errorf("at 1280 px the page is %d px wide", w)
	}
	browsertest.Screenshot(t, ctx, 390, 844, browsertest.Artifact(t, "fake-environments-390.png"))
	// At 390 px nothing is wider than the screen.
	if w := browsertest.Get(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("at 390 px the page is %d px wide", w)
	}
	do(chromedp.EmulateViewport(1280, 800))

	// Keyboard: the first Tab reaches the skip link, the next ones the
	// navigation and then the rows' links, each with a visible focus ring.
	do(chromedp.KeyEvent("\t"))
	if c := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.activeElement.className`)); c != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", c)
	}
	do(chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"))
	if href := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.activeElement.getAttribute("href")`)); href != envPath(review) {
		t.Errorf("the fourth Tab focuses %q, want the first environment's link", href)
	}
	if outline := browsertest.Get(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.activeElement).outlineStyle`)); outline == "none" {
		t.Error("the focused link has no visible outline")
	}

	// A protected rollback: the confirmation asks for approval, and the
	// browser does not send the form without it.
	do(chromedp.Navigate(ts.URL+envPath(production)), browsertest.Click("#rollback-1"), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	do(browsertest.Click("#confirm"), chromedp.Sleep(300*time.Millisecond))
	if rb, _ := f.calls(); len(rb) != 0 {
		t.Fatalf("sent without approval: %+v", rb)
	}
	do(browsertest.Click("#approve"), browsertest.Click("#confirm"), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if rb, _ := f.calls(); len(rb) != 1 || rb[0] != (rollbackCall{production, 1, true}) {
		t.Fatalf("rollbacks: %+v", rb)
	}
	if msg := text(".flash"); !strings.Contains(msg, "rolled back to revision 1") {
		t.Errorf("after the rollback the page says %q", msg)
	}
}
