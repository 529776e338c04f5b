package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/spf13/cobra"
)

// envNamespace resolves the namespace of environment name (for --ref when
// it is dynamic).
func (g *globalOptions) envNamespace(cmd *cobra.Command, name, refFlag string) (*config.Project, *config.Environment, *env.Target, error) {
	p, e, err := g.loadEnvironment(cmd, name)
	if err != nil {
		return nil, nil, nil, err
	}
	var ref env.Ref
	if e.Dynamic {
		ref = resolveRef(refFlag, "")
	}
	t, err := resolveTarget(p.Name(), e, ref)
	return p, e, t, err
}

func newEnvHistoryCmd(g *globalOptions) *cobra.Command {
	var ref, output string
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "Show the revisions deployed to an environment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			p, e, t, err := g.envNamespace(cmd, args[0], ref)
			if err != nil {
				return err
			}
			c, err := g.clients(e)
			if err != nil {
				return err
			}
			recs, err := apply.NewRecords(c.kube).List(cmd.Context(), t.Namespace, p.Name())
			if err != nil {
				return err
			}
			if output == "json" {
				if recs == nil {
					recs = []apply.Record{}
				}
				return writeJSON(g.streams.Out, recs)
			}
			if len(recs) == 0 {
				fmt.Fprintf(g.streams.Err, "environment %s (namespace %s): nothing deployed yet\n", e.Name, t.Namespace)
				return nil
			}
			w := tabwriter.NewWriter(g.streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "REVISION\tSTATUS\tDEPLOYED\tBY\tVERSION\tIMAGES\tDESCRIPTION")
			for _, r := range recs {
				version := r.Tag
				if version == "" && len(r.Commit) >= 8 {
					version = r.Commit[:8]
				}
				desc := r.Description
				if r.RollbackOf > 0 {
					desc = fmt.Sprintf("rollback to revision %d", r.RollbackOf)
				}
				if r.Message != "" {
					desc = joinNonEmpty(desc, r.Message)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Revision, r.Status, r.Time.Local().Format("2006-01-02 15:04:05"),
					dash(firstNonEmpty(r.Actor, r.KubeUser)), dash(version), dash(shortImages(r.Images)), dash(desc))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "the ref of a dynamic environment (default: CI_COMMIT_REF_NAME, else the git checkout)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func newEnvRollbackCmd(g *globalOptions) *cobra.Command {
	f := &applyFlags{}
	var ref string
	var toRevision int
	var approve bool
	cmd := &cobra.Command{
		Use:   "rollback NAME",
		Short: "Re-apply an earlier revision of an environment, with a status check",
		Long: "Re-apply the manifests stored in an earlier release record (default: the last revision\n" +
			"before the current one that deployed successfully), as a new revision.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			p, e, t, err := g.envNamespace(cmd, args[0], ref)
			if err != nil {
				return err
			}
			app := p.Name()
			c, err := g.clients(e)
			if err != nil {
				return err
			}
			records := apply.NewRecords(c.kube)
			recs, err := records.List(ctx, t.Namespace, app)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				return fmt.Errorf("environment %s (namespace %s) has no revisions to roll back to", e.Name, t.Namespace)
			}
			current := recs[len(recs)-1].Revision
			var rec *apply.Record
			if toRevision > 0 {
				if rec, err = records.Get(ctx, t.Namespace, app, toRevision); err != nil {
					return fmt.Errorf("%w (see skiff env history %s)", err, e.Name)
				}
			} else if rec, err = records.LastDeployed(ctx, t.Namespace, app, current); err != nil {
				return err
			} else if rec == nil {
				return fmt.Errorf("environment %s has no successful revision before %d to roll back to", e.Name, current)
			}
			if err := g.checkProtection(*e, env.Ref{Name: rec.Tag, Tag: rec.Tag != ""}, t.Namespace, approve); err != nil {
				return err
			}
			target, err := g.envKube(e, t.Namespace)
			if err != nil {
				return err
			}
			opts, err := f.options(cmd, settingsOf(p), target)
			if err != nil {
				return err
			}
			opts.App, opts.Namespace, opts.CreateNamespace = app, t.Namespace, false
			opts.Release = apply.ReleaseInfo{Actor: actor(), Description: fmt.Sprintf("rollback to revision %d", rec.Revision)}
			fmt.Fprintf(g.streams.Err, "environment %s: rolling back from revision %d to revision %d\n", e.Name, current, rec.Revision)
			_, err = g.applyWith(cmd, f, target, opts, func(ctx context.Context, a *apply.Applier, o apply.Options) (*apply.Result, error) {
				return a.Rollback(ctx, rec.Revision, o)
			})
			return err
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&ref, "ref", "", "the ref of a dynamic environment")
	cmd.Flags().IntVar(&toRevision, "to-revision", 0, "the revision to re-apply (default: the last successful one before the current)")
	cmd.Flags().BoolVar(&approve, "approve", false, "approve a rollback of an environment that requires approval")
	return cmd
}
