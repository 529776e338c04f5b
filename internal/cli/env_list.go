package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// envRow is one line of env list.
type envRow struct {
	Environment string     `json:"environment"`
	Namespace   string     `json:"namespace"`
	Dynamic     bool       `json:"dynamic,omitempty"`
	Protected   bool       `json:"protected,omitempty"`
	Ref         string     `json:"ref,omitempty"`
	Revision    int        `json:"revision,omitempty"`
	Status      string     `json:"status,omitempty"`
	Version     string     `json:"version,omitempty"`
	Images      []string   `json:"images,omitempty"`
	DeployedAt  *time.Time `json:"deployedAt,omitempty"`
	DeployedBy  string     `json:"deployedBy,omitempty"`
	Health      string     `json:"health"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	URL         string     `json:"url,omitempty"`
}

func newEnvListCmd(g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show every environment: what is deployed where, by whom, and whether it is healthy",
		Long: "List the configured environments and every live dynamic one: namespace, revision,\n" +
			"version (tag or commit), images, when and by whom it was deployed, health (the\n" +
			"kstatus of the inventory's objects) and expiry.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			p, err := g.loadProject(cmd)
			if err != nil {
				return err
			}
			rows, err := g.environmentRows(cmd.Context(), p)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(g.streams.Out, rows)
			}
			printEnvRows(g, rows)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// clusterClients are the clients env commands read the cluster with.
type clusterClients struct {
	config  *rest.Config
	applier *apply.Applier // made on first use
	kube    kubernetes.Interface
	dyn     dynamic.Interface
}

// applierFor is the clients' Applier, made once.
func (c *clusterClients) applierFor() (*apply.Applier, error) {
	if c.applier == nil {
		a, err := apply.New(c.config)
		if err != nil {
			return nil, err
		}
		c.applier = a
	}
	return c.applier, nil
}

func (g *globalOptions) clients(e *config.Environment) (*clusterClients, error) {
	t, err := g.envKube(e, "")
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(t.Config)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(t.Config)
	if err != nil {
		return nil, err
	}
	return &clusterClients{config: t.Config, kube: kube, dyn: dyn}, nil
}

func (g *globalOptions) environmentRows(ctx context.Context, p *config.Project) ([]envRow, error) {
	app := p.Name()
	var rows []envRow
	seen := map[string]bool{}
	// Environments on the same cluster as the same identity share clients
	// (and their discovery).
	cache := map[string]*clusterClients{}
	clients := func(e *config.Environment) (*clusterClients, error) {
		key := ""
		if e != nil {
			key = fmt.Sprintf("%s|%s|%v", e.KubeContext, e.As, e.AsGroups)
		}
		if c, ok := cache[key]; ok {
			return c, nil
		}
		c, err := g.clients(e)
		cache[key] = c
		return c, err
	}
	for i := range p.Environments() {
		e := &p.Environments()[i]
		c, err := clients(e)
		if err != nil {
			return nil, err
		}
		if e.Dynamic {
			live, err := env.ListNamespaces(ctx, c.kube, app, e.Name)
			if err != nil {
				return nil, err
			}
			if len(live) == 0 {
				rows = append(rows, envRow{Environment: e.Name, Dynamic: true, Health: "none deployed"})
			}
			for _, ns := range live {
				seen[ns.Name] = true
				rows = append(rows, g.envRow(ctx, c, app, e, ns.Name, &ns))
			}
			continue
		}
		t, err := resolveTarget(app, e, env.Ref{})
		if err != nil {
			return nil, err
		}
		seen[t.Namespace] = true
		ns, ok, err := env.GetNamespace(ctx, c.kube, t.Namespace)
		if err != nil {
			return nil, err
		}
		var nsp *env.Namespace
		if ok {
			nsp = &ns
		}
		rows = append(rows, g.envRow(ctx, c, app, e, t.Namespace, nsp))
	}
	// Live namespaces of environments no longer configured.
	c, err := clients(nil)
	if err != nil {
		return nil, err
	}
	live, err := env.ListNamespaces(ctx, c.kube, app, "")
	if err != nil {
		return nil, err
	}
	for _, ns := range live {
		// Namespaces of environments no longer configured; those skiff
		// created for other purposes (skiff apply -n) have no environment.
		if !seen[ns.Name] && ns.Environment != "" {
			orphan := &config.Environment{Name: ns.Environment + " (not configured)", Dynamic: !ns.ExpiresAt.IsZero()}
			rows = append(rows, g.envRow(ctx, c, app, orphan, ns.Name, &ns))
		}
	}
	return rows, nil
}

// envRow reads one environment namespace's latest revision and health.
func (g *globalOptions) envRow(ctx context.Context, c *clusterClients, app string, e *config.Environment, namespace string, ns *env.Namespace) envRow {
	row := envRow{Environment: e.Name, Namespace: namespace, Dynamic: e.Dynamic, Protected: e.Protected}
	if ns == nil {
		row.Health = "namespace missing"
		return row
	}
	row.Ref, row.URL = ns.Ref, ns.URL
	if !ns.ExpiresAt.IsZero() {
		exp := ns.ExpiresAt
		row.ExpiresAt = &exp
	}
	records, err := apply.NewRecords(c.kube).List(ctx, namespace, app)
	if err != nil {
		row.Health = "unknown: " + oneLine(err.Error())
		return row
	}
	if len(records) > 0 {
		last := records[len(records)-1]
		row.Revision, row.Status, row.Images = last.Revision, string(last.Status), last.Images
		row.Version = last.Tag
		if row.Version == "" && len(last.Commit) >= 8 {
			row.Version = last.Commit[:8]
		}
		at := last.Time
		row.DeployedAt = &at
		row.DeployedBy = firstNonEmpty(last.Actor, last.KubeUser)
	}
	applier, err := c.applierFor()
	if err != nil {
		row.Health = "unknown: " + oneLine(err.Error())
		return row
	}
	events, err := applier.Health(ctx, namespace, app)
	if err != nil {
		row.Health = "unknown: " + oneLine(err.Error())
		return row
	}
	h := env.Summarize(events)
	row.Health = h.String()
	return row
}

func printEnvRows(g *globalOptions, rows []envRow) {
	w := tabwriter.NewWriter(g.streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ENVIRONMENT\tNAMESPACE\tREVISION\tVERSION\tIMAGES\tDEPLOYED\tBY\tHEALTH\tEXPIRES")
	for _, r := range rows {
		rev, deployed, expires := "-", "-", "-"
		if r.Revision > 0 {
			rev = fmt.Sprintf("%d (%s)", r.Revision, r.Status)
		}
		if r.DeployedAt != nil {
			deployed = r.DeployedAt.Local().Format("2006-01-02 15:04")
		}
		if r.ExpiresAt != nil {
			expires = r.ExpiresAt.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Environment, dash(r.Namespace), rev, dash(r.Version),
			dash(shortImages(r.Images)), deployed, dash(r.DeployedBy), r.Health, expires)
	}
	w.Flush()
}

// shortImages names images by repository and short digest.
func shortImages(images []string) string {
	out := make([]string, 0, len(images))
	for _, img := range images {
		repo, digest, ok := strings.Cut(img, "@sha256:")
		if i := strings.LastIndexByte(repo, '/'); i >= 0 {
			repo = repo[i+1:]
		}
		if ok && len(digest) >= 12 {
			repo = strings.SplitN(repo, ":", 2)[0] + "@" + digest[:12]
		}
		out = append(out, repo)
	}
	return strings.Join(out, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
