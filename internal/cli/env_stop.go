package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
)

// envStopOptions are skiff env stop's.
type envStopOptions struct {
	s         *session
	ref, app  string
	name      string
	hasConfig bool
}

func newEnvStopCmd(s *session) *cobra.Command {
	o := &envStopOptions{s: s}
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Remove a dynamic environment: its inventory, then its namespace when skiff created it",
		Long: "Stop a dynamic environment for a ref: delete everything in its inventory, then the\n" +
			"namespace if skiff created it. It works without a configuration file (a CI stop job\n" +
			"with no checkout): pass --app, and the namespace is found by its labels.",
		Example: "  skiff env stop review --ref \"$CI_COMMIT_REF_NAME\" --app myapp",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.name = a[0]
			return runVerb(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.ref, "ref", "", "the branch or merge request ref whose environment to stop (default: CI_COMMIT_REF_NAME, else the git checkout)")
	cmd.Flags().StringVar(&o.app, "app", "", "application name (default: from the configuration); needed without a configuration file")
	return cmd
}

func (o *envStopOptions) Validate() error {
	o.hasConfig = o.s.hasConfig()
	if !o.hasConfig && o.app == "" {
		return usageError("no configuration file here: pass --app NAME so the environment can be found by its labels")
	}
	return nil
}

func (o *envStopOptions) Run(ctx context.Context) error {
	s := o.s
	p, err := s.optionalProject()
	if err != nil {
		return err
	}
	facts := s.facts(p)
	ref := facts.RefFor(o.ref, "")
	if ref.Name == "" {
		return usageError("which ref? pass --ref BRANCH")
	}
	req := env.StopRequest{App: o.app, Environment: o.name, Ref: ref}
	var e *config.Environment
	if p != nil {
		if e, err = p.Environment(o.name); err != nil {
			return err
		}
		if !e.Dynamic {
			return fmt.Errorf("environment %s is not dynamic; it is never stopped (use skiff delete -n NAMESPACE to remove what is deployed)", o.name)
		}
		t, err := envTarget(p, e, facts, ref)
		if err != nil {
			return err
		}
		req.App, req.Namespace = firstNonEmpty(o.app, p.Name()), t.Namespace
	}
	c, err := s.connect("", e)
	if err != nil {
		return err
	}
	prog := newProgress(s.streams.Err)
	res, err := env.Stop(ctx, c, req, s.printEvents(prog))
	prog.done()
	printChanges(s.streams.Out, res.Changes)
	if err != nil {
		return err
	}
	if res.Namespace == "" {
		fmt.Fprintf(s.streams.Err, "environment %s of %s for %s: nothing deployed\n", o.name, req.App, env.DescribeRef(ref))
		return nil
	}
	if res.NamespaceDeleted {
		fmt.Fprintf(s.streams.Out, "Namespace %s deleted\n", res.Namespace)
	}
	fmt.Fprintf(s.streams.Err, "environment %s stopped (namespace %s)\n", o.name, res.Namespace)
	return nil
}

// envGCOptions are skiff env gc's.
type envGCOptions struct {
	s      *session
	dryRun bool
	app    string
}

func newEnvGCCmd(s *session) *cobra.Command {
	o := &envGCOptions{s: s}
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Stop every dynamic environment past its expiry",
		Long: "Stop every dynamic environment whose namespace is past its skiff.dev/expires-at time.\n" +
			"Protected and immutable environments are never stopped. Without a configuration\n" +
			"file, it collects the expired environments of every application (or of --app).",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only print what would be stopped")
	cmd.Flags().StringVar(&o.app, "app", "", "only this application (default: the configuration's, else every application)")
	return cmd
}

func (o *envGCOptions) Validate() error { return nil }

func (o *envGCOptions) Run(ctx context.Context) error {
	s := o.s
	p, err := s.optionalProject()
	if err != nil {
		return err
	}
	req := env.CollectRequest{App: o.app, Protected: map[string]bool{}, Now: time.Now(), DryRun: o.dryRun}
	if p != nil {
		req.App = firstNonEmpty(o.app, p.Name())
		for _, e := range p.Environments() {
			if e.Protected {
				req.Protected[e.Name] = true
			}
		}
	}
	c, err := s.connect("", nil)
	if err != nil {
		return err
	}
	prog := newProgress(s.streams.Err)
	collected, err := env.Collect(ctx, c, req, s.printEvents(prog))
	prog.done()
	stopped := 0
	for _, col := range collected {
		ns := col.Namespace
		switch {
		case o.dryRun:
			fmt.Fprintf(s.streams.Out, "would stop %s/%s (namespace %s, expired %s)\n", ns.App, ns.Environment, ns.Name, ns.ExpiresAt.Format(time.RFC3339))
		case col.Err != nil:
			fmt.Fprintf(s.streams.Err, "skiff: stopping %s: %s\n", ns.Name, oneLine(col.Err.Error()))
		default:
			printChanges(s.streams.Out, col.Stop.Changes)
			if col.Stop.NamespaceDeleted {
				fmt.Fprintf(s.streams.Out, "Namespace %s deleted\n", ns.Name)
			}
			stopped++
		}
	}
	if !o.dryRun {
		fmt.Fprintf(s.streams.Err, "env gc: %d expired environment(s) stopped\n", stopped)
	}
	return err
}
