package cli

import "github.com/spf13/cobra"

func newDiagnoseCmd(*globalOptions) *cobra.Command {
	return notImplemented("diagnose", "Print the effective configuration")
}
