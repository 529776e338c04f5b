package cluster_test

import (
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/ui"
	"github.com/skiff-dev/skiff/internal/ui/cluster"
)

func TestRows(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rows := []env.Row{
		{Environment: "review", Dynamic: true, Health: env.HealthNoneDeployed},
		{Environment: "staging", Namespace: "app-staging", Revision: 3, Status: "deployed", Version: "abcdef12", Commit: "abcdef1234", DeployedAt: &at, Health: "failed: Deployment.apps app-staging/web: ImagePullBackOff"},
		{Environment: "production", Namespace: "app", Protected: true, Health: env.HealthNamespaceMissing},
		{Environment: "old" + env.NotConfigured, Namespace: "app-old", Health: "healthy"},
	}
	configured := []config.Environment{{Name: "review", Dynamic: true}, {Name: "staging"}, {Name: "production", Protected: true, RequireTag: "v*", Approval: "required"}}
	got := cluster.Rows(rows, configured, func(e *config.Environment) string {
		if e == nil {
			return "default"
		}
		return "ctx-" + e.Name
	})
	if len(got) != 4 {
		t.Fatalf("%d rows", len(got))
	}
	r, s, p, o := got[0], got[1], got[2], got[3]
	if r.Exists || r.Health.State != "empty" || !r.Configured || r.Context != "ctx-review" {
		t.Errorf("review without a live namespace: %+v", r)
	}
	if !s.Exists || s.Health != (ui.Health{State: "failed", Detail: "Deployment.apps app-staging/web: ImagePullBackOff"}) || s.Commit != "abcdef1234" || !s.DeployedAt.Equal(at) {
		t.Errorf("staging: %+v", s)
	}
	if p.Exists || p.Health.State != "missing" || !p.Protected || p.RequireTag != "v*" || !p.ApprovalRequired {
		t.Errorf("production: %+v", p)
	}
	if o.Name != "old" || o.Configured || !o.Exists || o.Context != "default" || o.Health.State != "healthy" {
		t.Errorf("a namespace of an environment no longer configured: %+v", o)
	}
}
