package cli

import "github.com/spf13/cobra"

func newCICmd(*globalOptions) *cobra.Command {
	return notImplemented("ci", "Generate GitLab CI or GitHub Actions pipelines")
}
