package dev

import (
	"context"
	"os"
	"time"
)

// Batching defaults: an editor's save (write a temporary file, rename it
// over the old one) or a git checkout arrives as a burst of events; the
// batch is handed over once no event came for Quiet, and at the latest
// MaxDelay after its first event, so that a file rewritten continuously
// still gets built.
const (
	DefaultQuiet    = 80 * time.Millisecond
	DefaultMaxDelay = time.Second
)

// debouncer batches raw events into changes. Events that arrive while the
// consumer is busy join the next batch.
type debouncer struct {
	quiet, maxDelay time.Duration
	// after is time.After; tests replace it to fire timers themselves.
	after func(time.Duration) <-chan time.Time
	// stat says whether a path exists now and is a directory (os.Lstat).
	stat func(string) (exists, dir bool)
}

func newDebouncer(quiet, maxDelay time.Duration) *debouncer {
	return &debouncer{quiet: quiet, maxDelay: maxDelay, after: time.After, stat: func(p string) (bool, bool) {
		fi, err := os.Lstat(p)
		return err == nil, err == nil && fi.IsDir()
	}}
}

// pending is a batch being collected, in order of first appearance.
type pending struct {
	order   []string
	created map[string]bool
}

func (p *pending) add(e rawEvent) {
	if p.created == nil {
		p.created = map[string]bool{}
	}
	if _, seen := p.created[e.path]; !seen {
		p.order = append(p.order, e.path)
		p.created[e.path] = e.created
	}
}

// run reads in until ctx ends and sends batches on out.
func (d *debouncer) run(ctx context.Context, in <-chan rawEvent, out chan<- []Change) {
	var (
		cur          pending
		quiet, limit <-chan time.Time
		ready        []Change
		readyIndex   = map[string]int{}
		outC         chan<- []Change
		flushPending = func() {
			for _, p := range cur.order {
				exists, dir := d.stat(p)
				if dir || (!exists && cur.created[p]) {
					// Directories are no change themselves (the files
					// created in them are reported); a file created and
					// gone again within the batch is none either.
					continue
				}
				removed := !exists
				c := Change{Path: p, Removed: removed}
				if i, ok := readyIndex[p]; ok {
					ready[i] = c
				} else {
					readyIndex[p] = len(ready)
					ready = append(ready, c)
				}
			}
			cur = pending{}
			quiet, limit = nil, nil
		}
	)
	for {
		if len(ready) > 0 {
			outC = out
		} else {
			outC = nil
		}
		select {
		case <-ctx.Done():
			return
		case e := <-in:
			cur.add(e)
			quiet = d.after(d.quiet)
			if limit == nil {
				limit = d.after(d.maxDelay)
			}
		case <-quiet:
			flushPending()
		case <-limit:
			flushPending()
		case outC <- ready:
			ready, readyIndex = nil, map[string]int{}
		}
	}
}
