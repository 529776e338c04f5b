package env

import (
	"strings"

	"github.com/skiff-dev/skiff/internal/status"
)

// Health summarises the status of an environment's objects.
type Health struct {
	// State is healthy, progressing, failed, missing or empty.
	State string
	// Detail names the first object that is not healthy and why.
	Detail string
	// Objects counts the objects.
	Objects int
}

func (h Health) String() string {
	if h.Detail == "" {
		return h.State
	}
	return h.State + ": " + h.Detail
}

// Summarize reduces per-object statuses (apply.Applier.Health) to one
// health: the worst state wins, failed over missing over progressing.
func Summarize(events []status.Event) Health {
	if len(events) == 0 {
		return Health{State: "empty"}
	}
	h := Health{State: "healthy", Objects: len(events)}
	rank := map[string]int{"healthy": 0, "progressing": 1, "missing": 2, "failed": 3}
	for _, ev := range events {
		state := "progressing"
		switch {
		case ev.Result.Problem != nil || ev.Result.Status == status.Failed:
			state = "failed"
		case ev.Result.Status == status.NotFound:
			state = "missing"
		case ev.Result.Status == status.Current:
			state = "healthy"
		}
		if rank[state] > rank[h.State] {
			detail := ev.Ref.String()
			if msg := strings.TrimSpace(ev.Result.Message); msg != "" {
				detail += ": " + msg
			}
			if p := ev.Result.Problem; p != nil {
				detail = ev.Ref.String() + ": " + p.String()
			}
			h.State, h.Detail = state, detail
		}
	}
	return h
}
