package cli

import "github.com/spf13/cobra"

func newRenderCmd(*globalOptions) *cobra.Command {
	return notImplemented("render", "Render hydrated manifests with images pinned by digest")
}
