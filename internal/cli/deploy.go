package cli

import "github.com/spf13/cobra"

func newDeployCmd(*globalOptions) *cobra.Command {
	return notImplemented("deploy", "Render and apply")
}
