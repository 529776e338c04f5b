package env

import (
	"testing"

	"github.com/skiff-dev/skiff/internal/status"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestSummarize(t *testing.T) {
	ref := func(name string) status.Ref {
		return status.Ref{Kind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Namespace: "ns", Name: name}
	}
	current := status.Event{Ref: ref("a"), Result: status.Result{Status: status.Current}}
	progressing := status.Event{Ref: ref("b"), Result: status.Result{Status: status.InProgress, Message: "Replicas: 0/1"}}
	failed := status.Event{Ref: ref("c"), Result: status.Result{Status: status.InProgress, Problem: &status.Problem{Pod: "c-1", Reason: "CrashLoopBackOff"}}}
	missing := status.Event{Ref: ref("d"), Result: status.Result{Status: status.NotFound}}
	tests := []struct {
		events []status.Event
		want   string
	}{
		{nil, "empty"},
		{[]status.Event{current}, "healthy"},
		{[]status.Event{current, progressing}, "progressing"},
		{[]status.Event{progressing, missing}, "missing"},
		{[]status.Event{missing, failed, current}, "failed"},
	}
	for _, tt := range tests {
		if got := Summarize(tt.events); got.State != tt.want {
			t.Errorf("Summarize(%v) = %v, want %s", tt.events, got, tt.want)
		}
	}
	if got := Summarize([]status.Event{current, failed}).String(); got != "failed: Deployment.apps ns/c: pod c-1: CrashLoopBackOff" {
		t.Errorf("detail = %q", got)
	}
}
