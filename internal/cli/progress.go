package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/status"
	"golang.org/x/term"
)

// progress renders apply and delete events on stderr. On a terminal the
// status check is a block of one line per object, rewritten in place; in CI
// (not a terminal) every status change is one plain line.
type progress struct {
	w             io.Writer
	tty           bool
	width, height int
	start         time.Time

	mu     sync.Mutex
	order  []status.Ref
	latest map[status.Ref]status.Event
	drawn  int // lines of the live block currently on screen
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, tty: isTerminal(w), start: time.Now(), latest: map[status.Ref]status.Event{}}
	if f, ok := w.(*os.File); ok && p.tty {
		if width, height, err := term.GetSize(int(f.Fd())); err == nil {
			p.width, p.height = width, height
		}
	}
	return p
}

// event is an apply.Options.OnEvent.
func (p *progress) event(e apply.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Type {
	case apply.EventPhase:
		p.endBlock()
		if e.Message != "" {
			fmt.Fprintf(p.w, "%s\n", e.Message)
		}
	case apply.EventStatus:
		line := statusLine(e.Status)
		if !p.tty {
			fmt.Fprintf(p.w, "%s %s\n", p.elapsed(), line)
			return
		}
		if _, ok := p.latest[e.Status.Ref]; !ok {
			p.order = append(p.order, e.Status.Ref)
		}
		p.latest[e.Status.Ref] = e.Status
		p.redraw()
	}
}

func (p *progress) elapsed() string {
	return fmt.Sprintf("[%5.1fs]", time.Since(p.start).Seconds())
}

func statusLine(e status.Event) string {
	msg := e.Result.Message
	if e.Result.Problem != nil {
		msg = e.Result.Problem.String()
	}
	return fmt.Sprintf("%-10s %s: %s", e.Result.Status, e.Ref, msg)
}

// redraw rewrites the live block: a summary line, then one line per object
// not ready yet (ready ones leave the block), at most a screen's worth. The
// cursor goes up over the old block, each line is cleared and written again,
// cut to the terminal width so that no line wraps, and what is left of a
// taller old block is cleared.
func (p *progress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	lines := p.blockLines()
	for _, line := range lines {
		if p.width > 1 && len(line) >= p.width {
			line = line[:p.width-1]
		}
		b.WriteString("\r\x1b[2K" + line + "\n")
	}
	b.WriteString("\x1b[J")
	p.drawn = len(lines)
	io.WriteString(p.w, b.String())
}

func (p *progress) blockLines() []string {
	var waiting []string
	ready := 0
	for _, r := range p.order {
		e := p.latest[r]
		if e.Result.Status == status.Current || e.Result.Status == status.NotFound {
			ready++
			continue
		}
		waiting = append(waiting, "  "+statusLine(e))
	}
	room := 20
	if p.height > 4 {
		room = p.height - 3
	}
	if len(waiting) > room {
		n := len(waiting) - room + 1
		waiting = append(waiting[:room-1], fmt.Sprintf("  … and %d more", n))
	}
	head := fmt.Sprintf("%d/%d done %s", ready, len(p.order), p.elapsed())
	return append([]string{head}, waiting...)
}

// done ends a live block, so that what is printed next goes below it.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endBlock()
}

// endBlock freezes the live block so that what follows prints below it.
func (p *progress) endBlock() {
	p.order, p.latest, p.drawn = nil, map[status.Ref]status.Event{}, 0
}
