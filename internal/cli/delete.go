package cli

import (
	"fmt"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/spf13/cobra"
)

func newDeleteCmd(g *globalOptions) *cobra.Command {
	var (
		app         string
		wait        bool
		timeout     time.Duration
		keepHistory bool
		output      string
	)
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete everything in the application's inventory",
		Long: "Delete exactly the objects the application's inventory in the namespace lists\n" +
			"(and only those still marked as created by it), then the inventory and the release\n" +
			"records. Objects skiff did not create are left alone. An application that was never\n" +
			"applied there is not an error.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			settings, err := g.loadDeploySettings(cmd)
			if err != nil {
				return err
			}
			target, err := g.kube(settings.KubeContext)
			if err != nil {
				return err
			}
			ns := target.Namespace
			if !target.NamespaceExplicit && settings.Namespace != "" {
				ns = settings.Namespace
			}
			if app == "" {
				app = settings.App
			}
			quietClientGo()
			target.Config.QPS, target.Config.Burst = 200, 400
			applier, err := apply.New(target.Config)
			if err != nil {
				return err
			}
			prog := newProgress(g.streams.Err)
			changes, err := applier.Delete(cmd.Context(), apply.DeleteOptions{
				App: app, Namespace: ns, Wait: wait, WaitTimeout: timeout, KeepHistory: keepHistory, OnEvent: prog.event,
			})
			prog.event(apply.Event{Type: apply.EventPhase})
			if output == "json" {
				if jerr := writeJSON(g.streams.Out, map[string]any{"app": app, "namespace": ns, "changes": changesJSON(changes)}); jerr != nil && err == nil {
					err = jerr
				}
				return err
			}
			printChanges(g.streams.Out, changes)
			if err == nil && changes == nil {
				fmt.Fprintf(g.streams.Err, "%s has no inventory in namespace %s: nothing to delete\n", app, ns)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&app, "app", "", "application name (default: metadata.name of the configuration, else the directory name)")
	f.BoolVar(&wait, "wait", false, "wait until the objects and what the cluster made for them (ReplicaSets, pods) are gone")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	f.BoolVar(&keepHistory, "keep-history", false, "keep the release records")
	f.StringVarP(&output, "output", "o", "text", "format on stdout: text or json")
	return cmd
}
