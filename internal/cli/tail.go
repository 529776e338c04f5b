package cli

import (
	"fmt"

	"github.com/skiff-dev/skiff/internal/dev"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
)

// tailLogs streams the logs of the pods of objs until the command's context
// ends (Ctrl-C), printed as skiff dev prints them.
func (g *globalOptions) tailLogs(cmd *cobra.Command, target *kubeTarget, namespace string, objs []manifest.Object) error {
	client, err := kubernetes.NewForConfig(target.Config)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.streams.Err, "streaming logs; press Ctrl-C to stop")
	printer := newDevPrinter(g.streams, namespace)
	dev.Tail(cmd.Context(), client, objs, namespace, printer.event)
	return nil
}
