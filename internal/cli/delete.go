package cli

import "github.com/spf13/cobra"

func newDeleteCmd(*globalOptions) *cobra.Command {
	return notImplemented("delete", "Delete everything in the application's inventory")
}
