// Package browsertest drives Debian's headless Chromium for the tests of
// skiff ui's pages (through chromedp), with every flag that keeps it off the
// network, and saves screenshots.
package browsertest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// New starts a headless Chromium (hack/testenv installs Debian's chromium)
// with a new empty profile and returns a context for chromedp actions in
// one tab. The browser stops when the test ends. Without chromium the test
// fails. Under -short the test is skipped.
func New(t testing.TB) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser tests")
	}
	path := testenv.RequireCommand(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// Nothing but loopback: no update checks, sync, metrics or
		// safe-browsing lists, and no name resolves except localhost.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// Do runs actions in the browser, bounded to a minute; an error fails t.
func Do(t testing.TB, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// Get runs an action that returns a value, bounded to a minute.
func Get[T any](t testing.TB, ctx context.Context, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Text returns the visible text of the first element matching the CSS
// selector sel, waiting up to a minute for one to exist. The element is
// found and read in one script: a page that replaces its fragments on a
// live update cannot swap the node between the lookup and the read, as it
// can between chromedp's query and its text call.
func Text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	q, err := json.Marshal(sel)
	if err != nil {
		t.Fatal(err)
	}
	js := `(() => { const e = document.querySelector(` + string(q) + `); return e === null ? null : e.innerText })()`
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[*string](js))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		if v != nil {
			return *v
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no element %s in a minute", sel)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Click clicks the first element matching the CSS selector sel once one
// exists. The element is found and clicked in one script, for the reason
// Text reads it so: chromedp's Click queries the node first and fails with
// "Could not find node with given id" when a live update replaced it in
// between.
func Click(sel string) chromedp.Action[chromedp.Void] {
	q, err := json.Marshal(sel)
	if err != nil {
		panic(err) // a string always marshals
	}
	return chromedp.Poll[chromedp.Void](`(() => { const e = document.querySelector(` + string(q) + `); if (e === null) return false; e.click(); return true })()`)
}

// Screenshot lays the page out at width × height CSS pixels, saves a
// full-page PNG at path and fails the test when it is empty.
func Screenshot(t testing.TB, ctx context.Context, width, height int, path string) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if width < 600 {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	Do(t, ctx, chromedp.EmulateViewport(int64(width), int64(height), opts...), chromedp.Sleep(300*time.Millisecond))
	png := Get(t, ctx, chromedp.FullScreenshot(100))
	if len(png) < 1000 {
		t.Fatalf("screenshot at %d px is empty (%d bytes)", width, len(png))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot at %d px: %s (%d bytes)", width, path, len(png))
}

// Artifact is the path of a test artifact named name under the
// repository's .skiff/ui directory (git ignores .skiff), kept after the test
// so a person can look at it.
func Artifact(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".skiff", "ui", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
