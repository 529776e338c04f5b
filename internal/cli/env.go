package cli

import "github.com/spf13/cobra"

func newEnvCmd(*globalOptions) *cobra.Command {
	return notImplemented("env", "Manage review, staging and production environments")
}
