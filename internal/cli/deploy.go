package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
)

// deployOptions are skiff deploy's: render's image and label flags, then
// apply's.
type deployOptions struct {
	s      *session
	apply  applyFlags
	builds buildsFlags
	render renderFlags
	verify bool
}

func newDeployCmd(s *session) *cobra.Command {
	o := &deployOptions{s: s}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Render and apply",
		Long: "Render the configuration's manifests with the built images pinned (as skiff render),\n" +
			"then apply them with an inventory, prune, release record and status check (as skiff\n" +
			"apply). Nothing is built: pass the builds with -a or -i.",
		Example: "  skiff deploy -p production -n myapp -a pipeline-artifacts.json\n" +
			"  skiff deploy -i web=registry.example/web:1.0@sha256:…",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	fl := cmd.Flags()
	o.apply.add(fl)
	o.builds.add(fl)
	o.render.addLabels(fl)
	o.render.addDigestSource(fl)
	fl.BoolVar(&o.verify, "verify", false, "run the verify tests after a successful deploy (as skiff verify)")
	return cmd
}

func (o *deployOptions) Validate() error {
	if err := o.apply.validate(); err != nil {
		return err
	}
	if err := o.render.validate(); err != nil {
		return err
	}
	return o.builds.validate()
}

func (o *deployOptions) Run(ctx context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	res, err := o.s.renderWithFlags(ctx, p, &o.builds, &o.render, o.s.flags.Namespace, false)
	if err != nil {
		return err
	}
	c, _, err := o.s.applyProject(ctx, p, &o.apply, res.Objects)
	if err != nil || !o.verify {
		return err
	}
	builds, err := o.builds.read(o.s.streams.In)
	if err != nil {
		return err
	}
	return o.s.runVerify(ctx, p, o.s.registry(p), &artifact.File{Builds: builds}, dockerbuild.IsolationAuto, c)
}
