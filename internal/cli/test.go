package cli

import "github.com/spf13/cobra"

func newTestCmd(*globalOptions) *cobra.Command {
	return notImplemented("test", "Run the configured tests against built images")
}
