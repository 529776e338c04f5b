package cli

import "github.com/spf13/cobra"

func newBuildCmd(*globalOptions) *cobra.Command {
	return notImplemented("build", "Build the configured artifacts into images without a Docker daemon")
}
