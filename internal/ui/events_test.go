package ui

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

type sse struct {
	name, data string
}

// listen opens path as an event stream and returns its events.
func (b *browser) listen(ctx context.Context, path string) <-chan sse {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sse, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sse
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ev.data = strings.Join(data, "\n")
					out <- ev
				}
				ev, data = sse{}, nil
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return out
}

// next waits for the next event named name.
func next(t *testing.T, events <-chan sse, name string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended before a %s event", name)
			}
			if ev.name == name {
				return ev.data
			}
		case <-timeout:
			t.Fatalf("no %s event within 10s", name)
		}
	}
}

func TestLiveUpdatesOfTheEnvironmentsPage(t *testing.T) {
	f := example()
	s, ts := testServer(t, f, false)
	b := open(t, s, ts)
	ctx, cancel := context.WithCancel(t.Context())
	events := b.listen(ctx, "/events?view=environments")
	first := next(t, events, "env-rows")
	if !strings.Contains(first, "v1.1.0") || strings.Contains(first, "<html") {
		t.Fatalf("first env-rows is not the table body:\n%s", first)
	}
	next(t, events, "updated")
	<-f.watching

	f.change(staging.Namespace, func(f *fakeSource) {
		f.envs[1].Revision, f.envs[1].Version = 3, "v1.2.0"
	})
	rows := next(t, events, "env-rows")
	if row := rowOf(t, rows, staging); !strings.Contains(row, "v1.2.0") || !strings.Contains(row, ">3 <") {
		t.Errorf("the new deploy is not in the update:\n%s", row)
	}
	// A new review environment appears as a new row.
	f.change("", func(f *fakeSource) {
		f.envs = append(f.envs, Environment{ID: ID{Name: "review", Namespace: "myapp-fix-1"}, Dynamic: true, Configured: true, Exists: true, Version: "abcdef12"})
	})
	rowOf(t, next(t, events, "env-rows"), ID{Name: "review", Namespace: "myapp-fix-1"})

	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.hub.mu.Lock()
		stopped := s.hub.cancel == nil
		s.hub.mu.Unlock()
		if stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watch goes on after the last page left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLiveUpdatesOfAnEnvironmentPage(t *testing.T) {
	f := example()
	s, ts := testServer(t, f, false)
	b := open(t, s, ts)
	events := b.listen(t.Context(), "/events?view=environment&name=staging&namespace=myapp-staging")
	if h := next(t, events, "history-rows"); !strings.Contains(h, `id="revision-2"`) {
		t.Fatalf("history-rows:\n%s", h)
	}
	<-f.watching
	f.change(staging.Namespace, func(f *fakeSource) {
		f.history[staging] = append(f.history[staging], Revision{Revision: 3, Status: "pending", Version: "v1.2.0"})
		f.objects[staging][0].Status = "Current"
	})
	if h := next(t, events, "history-rows"); !strings.Contains(h, `id="revision-3"`) {
		t.Errorf("the new revision is not in the update:\n%s", h)
	}
	if inv := next(t, events, "inventory-rows"); !strings.Contains(inv, "Current") {
		t.Errorf("the object's new status is not in the update:\n%s", inv)
	}
	if code, _, _ := b.get("/events?view=nope"); code != http.StatusBadRequest {
		t.Errorf("unknown view: %d", code)
	}
}
