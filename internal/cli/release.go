package cli

import "github.com/spf13/cobra"

func newReleaseCmd(*globalOptions) *cobra.Command {
	return notImplemented("release", "Create, list and show releases stored as OCI artifacts")
}
