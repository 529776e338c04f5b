package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/gitinfo"
)

// envNamespace loads environment name (with its profiles) and resolves its
// namespace (for ref when it is dynamic).
func (s *session) envNamespace(name, ref string) (*config.Project, *config.Environment, *gitinfo.Facts, *env.Target, error) {
	p, err := s.project()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	p, e, err := s.environment(p, name)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	facts := s.facts(p)
	t, err := envTarget(p, e, facts, facts.RefFor(ref, ""))
	return p, e, facts, t, err
}

// envHistoryOptions are skiff env history's.
type envHistoryOptions struct {
	s           *session
	ref, output string
	name        string
}

func newEnvHistoryCmd(s *session) *cobra.Command {
	o := &envHistoryOptions{s: s}
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "Show the revisions deployed to an environment",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.name = a[0]
			return runVerb(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.ref, "ref", "", "the ref of a dynamic environment (default: CI_COMMIT_REF_NAME, else the git checkout)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (o *envHistoryOptions) Validate() error { return checkOutput(o.output, "table", "json") }

func (o *envHistoryOptions) Run(ctx context.Context) error {
	p, e, _, t, err := o.s.envNamespace(o.name, o.ref)
	if err != nil {
		return err
	}
	c, err := o.s.connect("", e)
	if err != nil {
		return err
	}
	applier, err := c.Applier()
	if err != nil {
		return err
	}
	recs, err := applier.Records().List(ctx, t.Namespace, p.Name())
	if err != nil {
		return err
	}
	if o.output == "json" {
		if recs == nil {
			recs = []apply.Record{}
		}
		return writeJSON(o.s.streams.Out, recs)
	}
	if len(recs) == 0 {
		fmt.Fprintf(o.s.streams.Err, "environment %s (namespace %s): nothing deployed yet\n", e.Name, t.Namespace)
		return nil
	}
	w := tabwriter.NewWriter(o.s.streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REVISION\tSTATUS\tDEPLOYED\tBY\tVERSION\tIMAGES\tDESCRIPTION")
	for i, r := range recs {
		desc := r.Description
		if i > 0 {
			if ch := env.SecretChanges(recs[i-1], r); len(ch) > 0 {
				desc = joinNonEmpty(desc, strings.Join(ch, ", "))
			}
		}
		if r.RollbackOf > 0 {
			desc = fmt.Sprintf("rollback to revision %d", r.RollbackOf)
		}
		if r.Message != "" {
			desc = joinNonEmpty(desc, r.Message)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Revision, r.Status, r.Time.Local().Format("2006-01-02 15:04:05"),
			dash(firstNonEmpty(r.Actor, r.KubeUser)), dash(env.Version(r)), dash(shortImages(r.Images)), dash(desc))
	}
	return w.Flush()
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// envRollbackOptions are skiff env rollback's.
type envRollbackOptions struct {
	s          *session
	apply      applyFlags
	ref        string
	toRevision int
	approve    bool
	name       string
}

func newEnvRollbackCmd(s *session) *cobra.Command {
	o := &envRollbackOptions{s: s}
	cmd := &cobra.Command{
		Use:   "rollback NAME",
		Short: "Re-apply an earlier revision of an environment, with a status check",
		Long: "Re-apply the manifests stored in an earlier release record (default: the last revision\n" +
			"before the current one that deployed successfully), as a new revision.",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.name = a[0]
			return runVerb(cmd.Context(), o)
		},
	}
	o.apply.add(cmd.Flags())
	cmd.Flags().StringVar(&o.ref, "ref", "", "the ref of a dynamic environment")
	cmd.Flags().IntVar(&o.toRevision, "to-revision", 0, "the revision to re-apply (default: the last successful one before the current)")
	cmd.Flags().BoolVar(&o.approve, "approve", false, "approve a rollback of an environment that requires approval")
	return cmd
}

func (o *envRollbackOptions) Validate() error { return o.apply.validate() }

func (o *envRollbackOptions) Run(ctx context.Context) error {
	s := o.s
	p, e, facts, t, err := s.envNamespace(o.name, o.ref)
	if err != nil {
		return err
	}
	c, err := s.connect("", e)
	if err != nil {
		return err
	}
	req := env.RollbackRequest{
		App: p.Name(), Environment: *e, Namespace: t.Namespace, ToRevision: o.toRevision, Approved: o.approve,
		Apply: o.apply.options(p.DeploySettings(), p.Name(), facts), User: facts.User,
	}
	prog := newProgress(s.streams.Err)
	res, err := env.Rollback(ctx, c, s.confirm, req, s.printEvents(prog))
	prog.done()
	return s.reportApply(o.apply.output, res.Options, res.Apply, err)
}
