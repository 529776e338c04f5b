package cli

import (
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/render"
	"github.com/spf13/cobra"
)

type runFlags struct {
	build     buildFlags
	apply     applyFlags
	render    renderFlags
	SkipTests bool
	Tail      bool
}

func newRunCmd(g *globalOptions) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Build, test, render and apply",
		Long: "Build the artifacts (skip with -a or -i), run the configured tests against them, render\n" +
			"the manifests with the built images pinned and apply them with an inventory, prune,\n" +
			"release record and status check: Skaffold's run. With --tail the new pods' logs are\n" +
			"streamed until Ctrl-C.",
		Example: "  skiff run -p development -n dev-alice\n  skiff run -a build.json --tail",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.apply.validate(); err != nil {
				return err
			}
			return g.runRun(cmd, f)
		},
	}
	f.build.add(cmd)
	f.apply.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.render.BuildArtifacts, "build-artifacts", "a", "", "skip the build: use the images of this artifacts file (skiff build --file-output); - reads standard input")
	fl.StringSliceVarP(&f.render.Images, "images", "i", nil, "skip the build: use these images, NAME=REF (repeatable; wins over -a)")
	fl.StringSliceVarP(&f.render.Labels, "label", "l", nil, "add a label KEY=VALUE to every object's metadata (repeatable; never to pod templates)")
	fl.BoolVar(&f.SkipTests, "skip-tests", false, "do not run the configured tests")
	fl.BoolVar(&f.Tail, "tail", false, "stream the logs of the deployed pods until interrupted")
	return cmd
}

func (g *globalOptions) runRun(cmd *cobra.Command, f *runFlags) error {
	p, err := g.loadProject(cmd)
	if err != nil {
		return err
	}
	var builds []artifact.Build
	if f.render.BuildArtifacts != "" || len(f.render.Images) > 0 {
		if builds, err = g.readBuilds(&f.render); err != nil {
			return err
		}
	} else if len(p.Artifacts()) > 0 {
		if builds, err = f.build.build(cmd, g, p); err != nil {
			return err
		}
	}
	if !f.SkipTests {
		if err := g.runTests(cmd, p, &artifact.File{Builds: builds}); err != nil {
			return err
		}
	}
	ropts, err := g.renderOptionsFor(p, &renderFlags{Labels: f.render.Labels})
	if err != nil {
		return err
	}
	ropts.Builds = builds
	res, err := render.Render(cmd.Context(), ropts)
	if err != nil {
		return err
	}
	g.reportRender(res)
	settings := settingsOf(p)
	target, err := g.kube(settings.KubeContext)
	if err != nil {
		return err
	}
	opts, err := f.apply.options(cmd, settings, target)
	if err != nil {
		return err
	}
	if _, err := g.applyObjects(cmd, &f.apply, target, opts, res.Objects); err != nil {
		return err
	}
	if f.Tail {
		return g.tailLogs(cmd, target, opts.Namespace, res.Objects)
	}
	return nil
}
