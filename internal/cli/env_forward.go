package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/dev"
)

// envForwardOptions are skiff env forward's.
type envForwardOptions struct {
	s    *session
	ref  string
	name string
}

func newEnvForwardCmd(s *session) *cobra.Command {
	o := &envForwardOptions{s: s}
	cmd := &cobra.Command{
		Use:   "forward NAME",
		Short: "Forward local ports to an environment's pods until interrupted",
		Long: "Forward the configuration's portForward entries (Skaffold's portForward, with the\n" +
			"environment's profiles) to the environment's namespace: each local port reaches a\n" +
			"running, ready pod behind the resource, found anew for every connection, so the\n" +
			"port keeps working across deploys. It prints one line per forwarded port with its\n" +
			"local address and runs until Ctrl-C.",
		Example: "  skiff env forward production\n  skiff env forward review --ref feature/login",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.name = a[0]
			return runVerb(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.ref, "ref", "", "the ref of a dynamic environment (default: CI_COMMIT_REF_NAME, else the git checkout)")
	return cmd
}

func (o *envForwardOptions) Validate() error { return nil }

func (o *envForwardOptions) Run(ctx context.Context) error {
	s := o.s
	p, e, _, t, err := s.envNamespace(o.name, o.ref)
	if err != nil {
		return err
	}
	specs := dev.ConfigForwards(p, t.Namespace)
	if len(specs) == 0 {
		return usageError("environment %s: the configuration has no portForward entries; add one (resourceType, resourceName, port) to forward", e.Name)
	}
	c, err := s.connect("", e)
	if err != nil {
		return err
	}
	cluster := &dev.Cluster{Config: c.Target.Config, Client: c.Core}
	return dev.ForwardPorts(ctx, cluster, specs, func(ev dev.Event) {
		switch ev.Kind {
		case dev.Forwarding:
			f := ev.Forward
			fmt.Fprintf(s.streams.Out, "Port forwarding %s port %s (namespace %s) on %s\n", f.Resource, f.Port, f.Namespace, f.Local)
		case dev.ForwardFailed:
			fmt.Fprintf(s.streams.Err, "warning: port forward: %s\n", oneLine(ev.Err.Error()))
		}
	})
}
