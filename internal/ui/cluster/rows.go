package cluster

import (
	"strings"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/ui"
)

// Rows turns env.List's rows — the engine call behind skiff env list — into
// the environments page's, with what the configuration says of each
// environment (protection, requireTag, approval) and contextOf, the
// kubeconfig context of an environment's cluster (nil: none shown).
func Rows(rows []env.Row, configured []config.Environment, contextOf func(*config.Environment) string) []ui.Environment {
	byName := map[string]*config.Environment{}
	for i := range configured {
		byName[configured[i].Name] = &configured[i]
	}
	out := make([]ui.Environment, 0, len(rows))
	for _, r := range rows {
		name, orphan := strings.CutSuffix(r.Environment, env.NotConfigured)
		e := ui.Environment{
			ID: ui.ID{Name: name, Namespace: r.Namespace}, Dynamic: r.Dynamic, Protected: r.Protected,
			Ref: r.Ref, Revision: r.Revision, Status: r.Status, Version: r.Version, Commit: r.Commit,
			Images: r.Images, DeployedBy: r.DeployedBy, Health: health(r), URL: r.URL,
			Exists: r.Namespace != "" && r.Health != env.HealthNamespaceMissing,
		}
		if r.DeployedAt != nil {
			e.DeployedAt = *r.DeployedAt
		}
		if r.ExpiresAt != nil {
			e.ExpiresAt = *r.ExpiresAt
		}
		var c *config.Environment
		if ce, ok := byName[name]; ok && !orphan {
			c = ce
			e.Configured, e.RequireTag, e.ApprovalRequired = true, ce.RequireTag, ce.Approval == "required"
		}
		if contextOf != nil {
			e.Context = contextOf(c)
		}
		out = append(out, e)
	}
	return out
}

// health splits env list's health column ("failed: Deployment x: …") into
// its state and detail.
func health(r env.Row) ui.Health {
	switch r.Health {
	case env.HealthNamespaceMissing:
		return ui.Health{State: "missing", Detail: "namespace missing: nothing deployed"}
	case env.HealthNoneDeployed:
		return ui.Health{State: "empty", Detail: "no review environment is deployed"}
	}
	state, detail, _ := strings.Cut(r.Health, ": ")
	switch state {
	case "healthy", "progressing", "failed", "missing", "empty", "unknown":
		return ui.Health{State: state, Detail: detail}
	}
	return ui.Health{State: "unknown", Detail: r.Health}
}
