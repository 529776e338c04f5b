package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
)

// deleteOptions are skiff delete's.
type deleteOptions struct {
	s           *session
	app         string
	wait        bool
	timeout     time.Duration
	keepHistory bool
	output      string
}

func newDeleteCmd(s *session) *cobra.Command {
	o := &deleteOptions{s: s}
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete everything in the application's inventory",
		Long: "Delete exactly the objects the application's inventory in the namespace lists\n" +
			"(and only those still marked as created by it), then the inventory and the release\n" +
			"records. Objects skiff did not create are left alone. An application that was never\n" +
			"applied there is not an error.",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.app, "app", "", "application name (default: metadata.name of the configuration, else the directory name)")
	f.BoolVar(&o.wait, "wait", false, "wait until the objects and what the cluster made for them (ReplicaSets, pods) are gone")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	f.BoolVar(&o.keepHistory, "keep-history", false, "keep the release records")
	f.StringVarP(&o.output, "output", "o", "text", "format on stdout: text or json")
	return cmd
}

func (o *deleteOptions) Validate() error { return checkOutput(o.output, "text", "json") }

func (o *deleteOptions) Run(ctx context.Context) error {
	p, err := o.s.optionalProject()
	if err != nil {
		return err
	}
	var settings config.DeploySettings
	if p != nil {
		settings = p.DeploySettings()
	}
	app, err := appName(p, o.app)
	if err != nil {
		return err
	}
	c, err := o.s.connect(settings.KubeContext, nil)
	if err != nil {
		return err
	}
	ns := c.Target.Namespace
	if !c.Target.NamespaceExplicit && settings.Namespace != "" {
		ns = settings.Namespace
	}
	applier, err := c.Applier()
	if err != nil {
		return err
	}
	prog := newProgress(o.s.streams.Err)
	changes, err := applier.Delete(ctx, apply.DeleteOptions{
		App: app, Namespace: ns, Wait: o.wait, WaitTimeout: o.timeout, KeepHistory: o.keepHistory, OnEvent: prog.event,
	})
	prog.done()
	if o.output == "json" {
		if jerr := writeJSON(o.s.streams.Out, map[string]any{"app": app, "namespace": ns, "changes": changesJSON(changes)}); jerr != nil && err == nil {
			err = jerr
		}
		return err
	}
	printChanges(o.s.streams.Out, changes)
	if err == nil && changes == nil {
		fmt.Fprintf(o.s.streams.Err, "%s has no inventory in namespace %s: nothing to delete\n", app, ns)
	}
	return err
}
