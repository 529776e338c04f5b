package dev

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Trigger says how changes are noticed.
type Trigger string

// The triggers, with Skaffold's names.
const (
	// TriggerNotify uses the OS's file notifications (inotify): no work
	// while nothing changes.
	TriggerNotify Trigger = "notify"
	// TriggerPolling compares the watched files' times and sizes every
	// poll interval, for file systems without notifications (network and
	// some VM mounts).
	TriggerPolling Trigger = "polling"
	// TriggerManual compares them when the developer presses Enter.
	TriggerManual Trigger = "manual"
)

// ParseTrigger checks a --trigger value.
func ParseTrigger(s string) (Trigger, error) {
	switch t := Trigger(s); t {
	case TriggerNotify, TriggerPolling, TriggerManual:
		return t, nil
	case "":
		return TriggerNotify, nil
	}
	return "", fmt.Errorf("unknown trigger %q: use notify, polling or manual", s)
}

// WatchRoot is a directory to watch.
type WatchRoot struct {
	Dir       string
	Recursive bool
	// Skip tells, for a recursive root, subdirectories that need no watch.
	Skip func(dir string) bool
}

func (r WatchRoot) skip(dir string) bool { return r.Skip != nil && r.Skip(dir) }

// rawEvent is a path the OS or a scan reported as changed.
type rawEvent struct {
	path string
	// created: the first thing seen was the file's creation (an editor's
	// temporary file that is gone again by the end of the batch is no
	// change at all).
	created bool
}

// watchDirs lists the directories to watch for roots: each root, and for
// recursive ones every subdirectory they do not skip.
func watchDirs(roots []WatchRoot) map[string]bool {
	dirs := map[string]bool{}
	for _, r := range roots {
		if !r.Recursive {
			dirs[r.Dir] = true
			continue
		}
		_ = filepath.WalkDir(r.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if p != r.Dir && r.skip(p) {
				return filepath.SkipDir
			}
			dirs[p] = true
			return nil
		})
	}
	return dirs
}

// notifyWatcher reports changes with fsnotify, adding watches on the
// directories created under recursive roots.
type notifyWatcher struct {
	roots []WatchRoot
	w     *fsnotify.Watcher
}

func newNotifyWatcher(roots []WatchRoot) (*notifyWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching files: %w", err)
	}
	n := &notifyWatcher{roots: roots, w: w}
	dirs := watchDirs(roots)
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		if err := w.Add(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.Close()
			return nil, fmt.Errorf("watching %s: %w (raise fs.inotify.max_user_watches, or use --trigger=polling)", d, err)
		}
	}
	return n, nil
}

// watches is how many directories are watched.
func (n *notifyWatcher) watches() int { return len(n.w.WatchList()) }

// run sends events until ctx ends, then closes the watcher.
func (n *notifyWatcher) run(ctx context.Context, out chan<- rawEvent) error {
	defer n.w.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-n.w.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Changes were lost: the caller rescans nothing, but
				// the next change of each file is seen again.
				continue
			}
			return fmt.Errorf("watching files: %w", err)
		case e, ok := <-n.w.Events:
			if !ok {
				return nil
			}
			if e.Has(fsnotify.Create) {
				n.added(ctx, e.Name, out)
			}
			if e.Op == fsnotify.Chmod {
				continue
			}
			if !send(ctx, out, rawEvent{path: e.Name, created: e.Has(fsnotify.Create)}) {
				return nil
			}
		}
	}
}

// added watches a directory created under a recursive root, and reports
// the files already in it (created before the watch was in place).
func (n *notifyWatcher) added(ctx context.Context, p string, out chan<- rawEvent) {
	fi, err := os.Lstat(p)
	if err != nil || !fi.IsDir() {
		return
	}
	for _, r := range n.roots {
		if !r.Recursive || !within(r.Dir, p) || r.skip(p) {
			continue
		}
		for d := range watchDirs([]WatchRoot{{Dir: p, Recursive: true, Skip: r.Skip}}) {
			_ = n.w.Add(d)
		}
		_ = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				send(ctx, out, rawEvent{path: f, created: true})
			}
			return nil
		})
		return
	}
}

func send(ctx context.Context, out chan<- rawEvent, e rawEvent) bool {
	select {
	case out <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

// stamp is what a scan compares.
type stamp struct {
	mod  time.Time
	size int64
	mode fs.FileMode
}

// scan records every file under roots (only direct children for roots
// that are not recursive).
func scan(roots []WatchRoot) map[string]stamp {
	files := map[string]stamp{}
	for dir := range watchDirs(roots) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			if fi, err := e.Info(); err == nil {
				files[filepath.Join(dir, e.Name())] = stamp{fi.ModTime(), fi.Size(), fi.Mode()}
			}
		}
	}
	return files
}

// diff lists the files added, changed or removed between two scans.
func diff(before, after map[string]stamp) []rawEvent {
	var out []rawEvent
	for p, s := range after {
		if old, ok := before[p]; !ok {
			out = append(out, rawEvent{path: p})
		} else if old != s {
			out = append(out, rawEvent{path: p})
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, rawEvent{path: p})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// pollWatcher scans the roots every interval (--trigger=polling) or on
// each receive from manual (--trigger=manual: Enter).
type pollWatcher struct {
	roots  []WatchRoot
	every  time.Duration
	manual <-chan struct{}
	last   map[string]stamp
}

func newPollWatcher(roots []WatchRoot, every time.Duration, manual <-chan struct{}) *pollWatcher {
	return &pollWatcher{roots: roots, every: every, manual: manual, last: scan(roots)}
}

func (p *pollWatcher) run(ctx context.Context, out chan<- rawEvent) error {
	var tick <-chan time.Time
	if p.every > 0 {
		t := time.NewTicker(p.every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		case <-p.manual:
		}
		now := scan(p.roots)
		for _, e := range diff(p.last, now) {
			if !send(ctx, out, e) {
				return nil
			}
		}
		p.last = now
	}
}
