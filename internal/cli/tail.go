package cli

import (
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/spf13/cobra"
)

// tailLogs streams the logs of the pods of objs until the command's context
// ends.
func (g *globalOptions) tailLogs(cmd *cobra.Command, target *kubeTarget, namespace string, objs []manifest.Object) error {
	return errNoTail
}
