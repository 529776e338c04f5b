package cli

import "github.com/spf13/cobra"

func newPipelineCmd(*globalOptions) *cobra.Command {
	return notImplemented("pipeline", "Run the CI pipeline's job graph on this machine")
}
