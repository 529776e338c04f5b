package env

import (
	"context"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/kube"
)

// Row is one environment as env list shows it.
type Row struct {
	Environment string     `json:"environment"`
	Namespace   string     `json:"namespace"`
	Dynamic     bool       `json:"dynamic,omitempty"`
	Protected   bool       `json:"protected,omitempty"`
	Ref         string     `json:"ref,omitempty"`
	Revision    int        `json:"revision,omitempty"`
	Status      string     `json:"status,omitempty"`
	Version     string     `json:"version,omitempty"`
	Commit      string     `json:"commit,omitempty"`
	Images      []string   `json:"images,omitempty"`
	DeployedAt  *time.Time `json:"deployedAt,omitempty"`
	DeployedBy  string     `json:"deployedBy,omitempty"`
	Health      string     `json:"health"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	URL         string     `json:"url,omitempty"`
}

// NotConfigured ends the name of a row whose namespace belongs to an
// environment that is no longer configured.
const NotConfigured = " (not configured)"

// The health of rows with nothing to read.
const (
	HealthNoneDeployed     = "none deployed"     // a dynamic environment without a live namespace
	HealthNamespaceMissing = "namespace missing" // an environment whose namespace does not exist
)

// List reads every configured environment of p's application and every
// live namespace of one that is no longer configured: what runs there,
// since when, by whom, and how healthy it is. user and vars are what
// namespace templates see; connect reaches an environment's cluster (nil:
// the default cluster and identity).
func List(ctx context.Context, p *config.Project, user string, vars map[string]string, connect func(*config.Environment) (*kube.Clients, error)) ([]Row, error) {
	app := p.Name()
	var rows []Row
	seen := map[string]bool{}
	for i := range p.Environments() {
		e := &p.Environments()[i]
		c, err := connect(e)
		if err != nil {
			return nil, err
		}
		if e.Dynamic {
			live, err := ListNamespaces(ctx, c.Core, app, e.Name)
			if err != nil {
				return nil, err
			}
			if len(live) == 0 {
				rows = append(rows, Row{Environment: e.Name, Dynamic: true, Health: HealthNoneDeployed})
			}
			for _, ns := range live {
				seen[ns.Name] = true
				rows = append(rows, row(ctx, c, app, e, ns.Name, &ns))
			}
			continue
		}
		t, err := Resolve(app, *e, Ref{}, user, vars, time.Now())
		if err != nil {
			return nil, err
		}
		seen[t.Namespace] = true
		ns, ok, err := GetNamespace(ctx, c.Core, t.Namespace)
		if err != nil {
			return nil, err
		}
		var nsp *Namespace
		if ok {
			nsp = &ns
		}
		rows = append(rows, row(ctx, c, app, e, t.Namespace, nsp))
	}
	c, err := connect(nil)
	if err != nil {
		return nil, err
	}
	live, err := ListNamespaces(ctx, c.Core, app, "")
	if err != nil {
		return nil, err
	}
	for _, ns := range live {
		// Namespaces of environments no longer configured; those skiff
		// created for other purposes (skiff apply -n) have no environment.
		if !seen[ns.Name] && ns.Environment != "" {
			orphan := &config.Environment{Name: ns.Environment + NotConfigured, Dynamic: !ns.ExpiresAt.IsZero()}
			rows = append(rows, row(ctx, c, app, orphan, ns.Name, &ns))
		}
	}
	return rows, nil
}

// row reads one environment namespace's latest revision and health. What
// cannot be read is reported in Health, not as an error: one broken
// environment does not hide the others.
func row(ctx context.Context, c *kube.Clients, app string, e *config.Environment, namespace string, ns *Namespace) Row {
	r := Row{Environment: e.Name, Namespace: namespace, Dynamic: e.Dynamic, Protected: e.Protected}
	if ns == nil {
		r.Health = HealthNamespaceMissing
		return r
	}
	r.Ref, r.URL = ns.Ref, ns.URL
	if !ns.ExpiresAt.IsZero() {
		exp := ns.ExpiresAt
		r.ExpiresAt = &exp
	}
	records, err := apply.NewRecords(c.Core).List(ctx, namespace, app)
	if err != nil {
		r.Health = "unknown: " + err.Error()
		return r
	}
	if len(records) > 0 {
		last := records[len(records)-1]
		r.Revision, r.Status, r.Images = last.Revision, string(last.Status), last.Images
		r.Version, r.Commit = Version(last), last.Commit
		at := last.Time
		r.DeployedAt = &at
		r.DeployedBy = last.Actor
		if r.DeployedBy == "" {
			r.DeployedBy = last.KubeUser
		}
	}
	applier, err := c.Applier()
	if err != nil {
		r.Health = "unknown: " + err.Error()
		return r
	}
	events, err := applier.Health(ctx, namespace, app)
	if err != nil {
		r.Health = "unknown: " + err.Error()
		return r
	}
	r.Health = Summarize(events).String()
	return r
}

// Version names what a revision deployed: its tag, else its short commit.
func Version(r apply.Record) string {
	if r.Tag == "" && len(r.Commit) >= 8 {
		return r.Commit[:8]
	}
	return r.Tag
}
