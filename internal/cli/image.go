package cli

import "github.com/spf13/cobra"

func newImageCmd(*globalOptions) *cobra.Command {
	return notImplemented("image", "Import a root filesystem as a base image")
}
