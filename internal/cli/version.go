package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// version is set at link time: -X github.com/skiff-dev/skiff/internal/cli.version=v1.2.3
var version = "dev"

// commit is set at link time to the git commit the binary was built from.
var commit = ""

func newVersionCmd(s *session) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of skiff",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := struct {
				Version   string `json:"version"`
				Commit    string `json:"commit,omitempty"`
				GoVersion string `json:"goVersion"`
				Platform  string `json:"platform"`
			}{version, commit, runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(s.streams.Out, info)
			}
			fmt.Fprintln(s.streams.Out, info.Version)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
