package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newDiagnoseCmd(s *session) *cobra.Command {
	var yamlOnly bool
	cmd := &cobra.Command{
		Use:   "diagnose",
		Short: "Print the effective configuration after requires, profiles and patches",
		Long: "Print the effective configuration: every module after requires, profile activation,\n" +
			"profile merging, JSON patches, templates and defaults. With --yaml-only only the YAML\n" +
			"is printed, deterministically, so it can be diffed.",
		Args: args(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			p, err := s.project()
			if err != nil {
				return err
			}
			out, err := p.EffectiveYAML()
			if err != nil {
				return err
			}
			w := s.streams.Out
			if !yamlOnly {
				fmt.Fprintf(w, "# configuration: %s\n# application:   %s\n", p.File, p.Name())
				for _, c := range p.Configs {
					name := c.Metadata.Name
					if name == "" {
						name = "(unnamed)"
					}
					fmt.Fprintf(w, "# module %s from %s: %d artifacts\n", name, c.Source.File, len(c.Build.Artifacts))
				}
				var applied []string
				for _, ap := range p.Profiles {
					applied = append(applied, ap.Module+"/"+ap.Profile)
				}
				if len(applied) == 0 {
					applied = []string{"none"}
				}
				fmt.Fprintf(w, "# profiles: %s\n", strings.Join(applied, ", "))
			}
			_, err = w.Write(out)
			return err
		},
	}
	cmd.Flags().BoolVar(&yamlOnly, "yaml-only", false, "print only the effective configuration as YAML")
	return cmd
}
