package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/dev"
)

func TestDevFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"dev", "--trigger=sometimes"}, "--trigger"},
		{[]string{"dev", "--watch-poll-interval=0"}, "--watch-poll-interval"},
		{[]string{"dev", "--port-forward=pods"}, "--port-forward"},
		{[]string{"dev", "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, code := run(t, t.TempDir(), tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.err) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %s", code, stderr, ExitUsage, tt.err)
			}
		})
	}
}

func TestDevPortForwardFlag(t *testing.T) {
	tests := []struct {
		values         []string
		user, services bool
	}{
		{[]string{"user"}, true, false},
		{[]string{"user", "services"}, true, true}, // --port-forward alone
		{[]string{"services"}, false, true},
		{[]string{"off"}, false, false},
		{[]string{"true"}, true, true},
	}
	for _, tt := range tests {
		f := &devOptions{trigger: "notify", pollInterval: 1000, portForward: tt.values}
		o, err := f.loopOptions()
		if err != nil {
			t.Fatal(err)
		}
		if o.ForwardUser != tt.user || o.ForwardServices != tt.services {
			t.Errorf("--port-forward=%v: user %v services %v", tt.values, o.ForwardUser, o.ForwardServices)
		}
	}
}

func TestDevPrinter(t *testing.T) {
	var out, errb bytes.Buffer
	p := newDevPrinter(Streams{Out: &out, Err: &errb}, "dev-ns")
	p.event(dev.Event{Kind: dev.Log, Line: &dev.LogLine{Namespace: "dev-ns", Pod: "web-1", Container: "web", Text: "listening"}})
	p.event(dev.Event{Kind: dev.Log, Line: &dev.LogLine{Namespace: "other", Pod: "db-0", Container: "db", Text: "ready"}})
	p.event(dev.Event{Kind: dev.BuildFailed, Err: errors.New("building api: Dockerfile:3: unknown instruction")})
	if want := "[web-1/web] listening\n[other/db-0/db] ready\n"; out.String() != want {
		t.Errorf("stdout %q, want %q (no colour when not a terminal)", out.String(), want)
	}
	if !strings.HasPrefix(errb.String(), "Build failed: building api: Dockerfile:3") {
		t.Errorf("stderr %q", errb.String())
	}
}
