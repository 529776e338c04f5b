package cli

import "github.com/spf13/cobra"

func newApplyCmd(*globalOptions) *cobra.Command {
	return notImplemented("apply", "Apply hydrated manifests with an inventory, prune and status check")
}
