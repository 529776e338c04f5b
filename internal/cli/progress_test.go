package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/status"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func statusEvent(name, msg string) apply.Event {
	return apply.Event{Type: apply.EventStatus, Status: status.Event{
		Ref:    status.Ref{Kind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Namespace: "ns", Name: name},
		Result: status.Result{Status: status.InProgress, Message: msg},
	}}
}

func TestProgressPlainLinesInCI(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	p.event(apply.Event{Type: apply.EventPhase, Message: "waiting for 1 objects to become ready"})
	p.event(statusEvent("web", "Ready: 0/2"))
	p.event(apply.Event{Type: apply.EventPhase})
	out := buf.String()
	if strings.Contains(out, "\x1b[") {
		t.Errorf("escape sequences outside a terminal: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[1], "InProgress Deployment.apps ns/web: Ready: 0/2") {
		t.Errorf("output:\n%s", out)
	}
}

func TestProgressRewritesInPlaceOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	p.tty, p.width, p.height = true, 60, 10
	p.event(statusEvent("a", "Ready: 0/2"))
	p.event(statusEvent("b", "Ready: 0/2"))
	buf.Reset()
	e := statusEvent("a", "")
	e.Status.Result.Status = status.Current
	p.event(e)
	out := buf.String()
	// Up over the 3-line block (summary + a + b), then summary + b only.
	if !strings.HasPrefix(out, "\x1b[3A") || !strings.Contains(out, "1/2 done") || strings.Contains(out, "ns/a") || !strings.Contains(out, "ns/b") {
		t.Errorf("redraw = %q", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if len(strings.TrimPrefix(line, "\r\x1b[2K")) > 60 {
			t.Errorf("line wider than the terminal: %q", line)
		}
	}
}
