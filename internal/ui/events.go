package ui

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// hub runs one Source.Watch while any page listens for live updates and
// tells every listener what changed.
type hub struct {
	src  Source
	logf func(string, ...any)

	mu     sync.Mutex
	subs   map[chan Change]struct{}
	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

func newHub(src Source, logf func(string, ...any)) *hub {
	return &hub{src: src, logf: logf, subs: map[chan Change]struct{}{}}
}

// subscribe returns a channel of changes (coalesced: a listener that is
// busy re-reading gets the next change once) and a function to leave.
func (h *hub) subscribe() (<-chan Change, func()) {
	ch := make(chan Change, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[ch] = struct{}{}
	if h.cancel == nil && !h.closed {
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel, h.done = cancel, make(chan struct{})
		go h.run(ctx, h.done)
	}
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		var done chan struct{}
		if len(h.subs) == 0 && h.cancel != nil {
			h.cancel()
			h.cancel, done = nil, h.done
		}
		h.mu.Unlock()
		if done != nil {
			<-done
		}
	}
}

// run watches until ctx ends, starting the watch again (after a pause)
// when it fails.
func (h *hub) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		err := h.src.Watch(ctx, h.broadcast)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			h.logf("live updates: %v (watching again in 5s)", err)
		}
		// Whatever happened while no watch ran is unknown: re-read all.
		h.broadcast(Change{})
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

func (h *hub) broadcast(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- c:
		default:
			// A change is already waiting: widen it to everything unless
			// it is the same namespace.
			select {
			case old := <-ch:
				if old.Namespace != c.Namespace {
					c = Change{}
				}
			default:
			}
			select {
			case ch <- c:
			default:
			}
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	cancel, done := h.cancel, h.done
	h.cancel = nil
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// events streams live updates of one page as server-sent events: after
// each change the page's lists are read again and sent when they differ
// from what the page has (as HTML fragments the page swaps in).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	var read func(ctx context.Context) ([]fragment, error)
	var namespace string
	switch q.Get("view") {
	case "environments":
		read = s.readEnvironments
	case "environment":
		id := ID{Name: q.Get("name"), Namespace: q.Get("namespace")}
		namespace = id.Namespace
		read = func(ctx context.Context) ([]fragment, error) { return s.readEnvironment(r, id) }
	default:
		http.Error(w, "unknown view", http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	fl.Flush()

	changes, leave := s.hub.subscribe()
	defer leave()
	ctx := r.Context()
	sent := map[string]string{}
	// The page was rendered before the watch started: read once now, so a
	// change in between is not missed.
	send := func() bool {
		frags, err := read(ctx)
		if ctx.Err() != nil {
			return false
		}
		if err != nil {
			writeEvent(w, "problem", "Live updates: "+err.Error())
			fl.Flush()
			return true
		}
		for _, f := range frags {
			if sent[f.name] == f.html {
				continue
			}
			sent[f.name] = f.html
			writeEvent(w, f.name, f.html)
		}
		writeEvent(w, "updated", time.Now().Format("15:04:05"))
		fl.Flush()
		return true
	}
	if !send() {
		return
	}
	heartbeat := time.NewTicker(25 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closed:
			return
		case <-heartbeat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		case c := <-changes:
			if namespace != "" && c.Namespace != "" && c.Namespace != namespace {
				continue
			}
			// Let a burst of changes (an apply touches many objects) settle.
			timer := time.NewTimer(s.opts.Debounce)
		settle:
			for {
				select {
				case <-ctx.Done():
					timer.Stop()
					return
				case <-changes:
				case <-timer.C:
					break settle
				}
			}
			if !send() {
				return
			}
		}
	}
}

// writeEvent writes one server-sent event; each line of data becomes a
// data: line, as the format requires.
func writeEvent(w http.ResponseWriter, name, data string) {
	var b strings.Builder
	b.WriteString("event: " + name + "\n")
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + strings.TrimSuffix(line, "\r") + "\n")
	}
	b.WriteString("\n")
	fmt.Fprint(w, b.String())
}

// fragment is a part of a page, by the id of the element it replaces.
type fragment struct{ name, html string }

// readEnvironments renders the environments table's body.
func (s *Server) readEnvironments(ctx context.Context) ([]fragment, error) {
	rows, err := s.opts.Source.Environments(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := s.pages.fragment(&buf, "environments", "env-rows", fragmentData{Rows: rows, ReadOnly: s.opts.ReadOnly}); err != nil {
		return nil, err
	}
	return []fragment{{"env-rows", buf.String()}}, nil
}

// readEnvironment renders an environment page's live parts.
func (s *Server) readEnvironment(r *http.Request, id ID) ([]fragment, error) {
	d, err := s.detail(r, id)
	if err != nil {
		return nil, err
	}
	var out []fragment
	for _, name := range []string{"env-summary", "history-rows", "inventory-rows"} {
		var buf bytes.Buffer
		if err := s.pages.fragment(&buf, "environment", name, d); err != nil {
			return nil, err
		}
		out = append(out, fragment{name, buf.String()})
	}
	return out, nil
}

// fragmentData is what the environments table body is rendered from.
type fragmentData struct {
	Rows     []Environment
	ReadOnly bool
}
