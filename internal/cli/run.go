package cli

import "github.com/spf13/cobra"

func newRunCmd(*globalOptions) *cobra.Command {
	return notImplemented("run", "Build, test, render and apply")
}
