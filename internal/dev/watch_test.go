package dev

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock hands the debouncer's timers to the test, which fires them.
type fakeClock struct{ calls chan chan time.Time }

func (f *fakeClock) after(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.calls <- c
	return c
}

func TestDebouncerBatches(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{calls: make(chan chan time.Time)}
	files := map[string][2]bool{ // path → exists, dir
		"a": {true, false}, "b": {true, false}, "gone": {false, false}, "dir": {true, true},
		"c": {true, false}, "d": {true, false}, "e": {true, false}, "f": {true, false},
	}
	statted := make(chan string, 100) // flushes stat each path
	d := &debouncer{after: clock.after, stat: func(p string) (bool, bool) {
		statted <- p
		s := files[p]
		return s[0], s[1]
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, out := make(chan rawEvent), make(chan []Change)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.run(ctx, in, out)
	}()
	defer func() { cancel(); <-done }()

	// event sends e and returns the quiet timer it started (and the
	// max-delay timer when it is the batch's first event).
	event := func(e rawEvent, first bool) (quiet, limit chan time.Time) {
		in <- e
		quiet = <-clock.calls
		if first {
			limit = <-clock.calls
		}
		return quiet, limit
	}
	noBatch := func() {
		t.Helper()
		select {
		case b := <-out:
			t.Fatalf("batch %v before a timer fired", b)
		default:
		}
	}

	t.Run("quiet period", func(t *testing.T) {
		q1, _ := event(rawEvent{path: "a"}, true)
		q2, _ := event(rawEvent{path: "b"}, false)
		event(rawEvent{path: "a"}, false)
		q3, _ := event(rawEvent{path: "tmp~", created: true}, false)
		noBatch()
		q1 <- time.Time{} // an outdated timer: the batch is still open
		q2 <- time.Time{}
		noBatch()
		event(rawEvent{path: "gone"}, false)
		q4, _ := event(rawEvent{path: "dir", created: true}, false)
		_ = q3
		q4 <- time.Time{}
		want := []Change{{Path: "a"}, {Path: "b"}, {Path: "gone", Removed: true}}
		if diff := cmp.Diff(want, <-out); diff != "" {
			t.Errorf("batch (-want +got):\n%s", diff)
		}
	})
	t.Run("max delay", func(t *testing.T) {
		_, limit := event(rawEvent{path: "c"}, true)
		event(rawEvent{path: "d"}, false)
		limit <- time.Time{}
		if diff := cmp.Diff([]Change{{Path: "c"}, {Path: "d"}}, <-out); diff != "" {
			t.Errorf("batch (-want +got):\n%s", diff)
		}
	})
	t.Run("changes wait for a busy consumer", func(t *testing.T) {
		for len(statted) > 0 {
			<-statted
		}
		q, _ := event(rawEvent{path: "e"}, true)
		q <- time.Time{}
		if p := <-statted; p != "e" {
			t.Fatalf("flushed %s, want e", p)
		}
		q, _ = event(rawEvent{path: "f"}, true)
		q <- time.Time{}
		if p := <-statted; p != "f" {
			t.Fatalf("flushed %s, want f", p)
		}
		// Both flushes happened before anyone read: one batch.
		if diff := cmp.Diff([]Change{{Path: "e"}, {Path: "f"}}, <-out); diff != "" {
			t.Errorf("batch (-want +got):\n%s", diff)
		}
	})
}

func TestWatchDirsSkipsIgnoredDirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"src/a.go": "", "src/sub/b.go": "", "node_modules/x/y.js": "", ".git/HEAD": ""})
	pm, err := newMatcher([]string{"node_modules", ".git"})
	if err != nil {
		t.Fatal(err)
	}
	tree := Tree{Dir: dir, Base: dir, Ignore: pm}
	got := watchDirs((&FileSet{Trees: []Tree{tree}}).Roots())
	var rel []string
	for d := range got {
		r, _ := filepath.Rel(dir, d)
		rel = append(rel, filepath.ToSlash(r))
	}
	sort.Strings(rel)
	if diff := cmp.Diff([]string{".", "src", "src/sub"}, rel); diff != "" {
		t.Errorf("watched directories (-want +got):\n%s", diff)
	}
}

func TestScanDiff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"keep": "1", "change": "1", "remove": "1", "sub/deep": "1"})
	roots := []WatchRoot{{Dir: dir, Recursive: true}}
	before := scan(roots)
	writeTree(t, dir, map[string]string{"change": "22", "new/file": "1"})
	if err := os.Remove(filepath.Join(dir, "remove")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range diff(before, scan(roots)) {
		r, _ := filepath.Rel(dir, e.path)
		got = append(got, filepath.ToSlash(r))
	}
	if diff := cmp.Diff([]string{"change", "new/file", "remove"}, got); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
}

// nextEvent waits for the watcher's next event under dir; the deadline
// only keeps a broken watcher from hanging the test.
func nextEvent(t *testing.T, events <-chan rawEvent, dir string) string {
	t.Helper()
	select {
	case e := <-events:
		r, _ := filepath.Rel(dir, e.path)
		return filepath.ToSlash(r)
	case <-time.After(time.Minute):
		t.Fatal("no event")
	}
	return ""
}

func TestManualTriggerScansOnEnter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a": "1"})
	enter := make(chan struct{})
	w := newPollWatcher([]WatchRoot{{Dir: dir, Recursive: true}}, 0, enter)
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan rawEvent, 10)
	done := make(chan error)
	go func() { done <- w.run(ctx, events) }()
	writeTree(t, dir, map[string]string{"a": "22", "b/c": "1"})
	enter <- struct{}{}
	got := []string{nextEvent(t, events, dir), nextEvent(t, events, dir)}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b/c"}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestNotifyWatcherFollowsNewDirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"src/a.go": ""})
	w, err := newNotifyWatcher([]WatchRoot{{Dir: dir, Recursive: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan rawEvent, 100)
	done := make(chan error)
	go func() { done <- w.run(ctx, events) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	writeTree(t, dir, map[string]string{"src/a.go": "changed"})
	if got := nextEvent(t, events, dir); got != "src/a.go" {
		t.Fatalf("first event %s, want src/a.go", got)
	}
	// A new directory with a file: the file is reported (whether it was
	// created before or after the new watch), and later changes in the
	// directory are seen through the new watch.
	writeTree(t, dir, map[string]string{"pkg/new/b.go": "1"})
	for got := ""; got != "pkg/new/b.go"; {
		got = nextEvent(t, events, dir)
	}
	writeTree(t, dir, map[string]string{"pkg/new/c.go": "1"})
	for got := ""; got != "pkg/new/c.go"; {
		got = nextEvent(t, events, dir)
	}
}
