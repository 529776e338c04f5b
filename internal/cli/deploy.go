package cli

import (
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/render"
	"github.com/spf13/cobra"
)

func newDeployCmd(g *globalOptions) *cobra.Command {
	af := &applyFlags{}
	rf := &renderFlags{}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Render and apply",
		Long: "Render the configuration's manifests with the built images pinned (as skiff render),\n" +
			"then apply them with an inventory, prune, release record and status check (as skiff\n" +
			"apply). Nothing is built: pass the builds with -a or -i.",
		Example: "  skiff deploy -p production -n myapp -a pipeline-artifacts.json\n" +
			"  skiff deploy -i web=registry.example/web:1.0@sha256:…",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := af.validate(); err != nil {
				return err
			}
			ropts, err := g.renderOptions(cmd, rf)
			if err != nil {
				return err
			}
			res, err := render.Render(cmd.Context(), ropts)
			if err != nil {
				return err
			}
			g.reportRender(res)
			// renderOptions loaded the configuration and printed its
			// warnings; load it again quietly for the deploy settings.
			p, err := config.Load(config.LoadOptions{
				Filename: g.Filename, Profiles: g.Profiles, Modules: g.Modules,
				Activation: config.ActivationContext{Command: verbOf(cmd), KubeContext: g.currentKubeContext()},
			})
			if err != nil {
				return err
			}
			return g.runApply(cmd, af, settingsOf(p), res.Objects)
		},
	}
	af.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&rf.BuildArtifacts, "build-artifacts", "a", "", "artifacts file written by skiff build --file-output (or skaffold build); - reads standard input")
	fl.StringSliceVarP(&rf.Images, "images", "i", nil, "pre-built images as NAME=REF, or a bare REF naming itself (repeatable; wins over -a)")
	fl.StringSliceVarP(&rf.Labels, "label", "l", nil, "add a label KEY=VALUE to every object's metadata (repeatable; never to pod templates)")
	fl.StringVar(&rf.DigestSource, "digest-source", "", "where image references come from: tag (the default), remote (pin tags to the registry's digest), none")
	return cmd
}
