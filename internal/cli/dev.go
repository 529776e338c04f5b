package cli

import "github.com/spf13/cobra"

func newDevCmd(*globalOptions) *cobra.Command {
	return notImplemented("dev", "Run the inner development loop: rebuild, sync, logs, port-forward")
}
