package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/dev"
)

// runOptions are skiff run's: build's, apply's and render's flags.
type runOptions struct {
	s         *session
	build     buildFlags
	apply     applyFlags
	builds    buildsFlags
	render    renderFlags
	skipTests bool
	verify    bool
	tail      bool
}

func newRunCmd(s *session) *cobra.Command {
	o := &runOptions{s: s}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Build, test, render and apply",
		Long: "Build the artifacts (skip with -a or -i), run the configured tests against them, render\n" +
			"the manifests with the built images pinned and apply them with an inventory, prune,\n" +
			"release record and status check: Skaffold's run. With --tail the new pods' logs are\n" +
			"streamed until Ctrl-C.",
		Example: "  skiff run -p development -n dev-alice\n  skiff run -a build.json --tail",
		Args:    args(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	fl := cmd.Flags()
	o.build.add(fl)
	o.apply.add(fl)
	o.builds.add(fl)
	o.render.addLabels(fl)
	fl.BoolVar(&o.skipTests, "skip-tests", false, "do not run the configured tests")
	fl.BoolVar(&o.verify, "verify", true, "run the verify tests after the deploy (as skiff verify)")
	fl.BoolVar(&o.tail, "tail", false, "stream the logs of the deployed pods until interrupted")
	return cmd
}

func (o *runOptions) Validate() error {
	for _, check := range []func() error{o.build.validate, o.apply.validate, o.builds.validate, o.render.validate} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (o *runOptions) isolation() (*session, *isolationFlags, string, bool) {
	// It builds unless -a/-i give the images, and runs command tests
	// unless --skip-tests.
	return o.s, &o.build.iso, o.build.cacheDir, !o.build.dryRun && (!o.builds.given() || !o.skipTests)
}

func (o *runOptions) Run(ctx context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	reg := o.s.registry(p)
	var builds []artifact.Build
	if o.builds.given() {
		if builds, err = o.builds.read(o.s.streams.In); err != nil {
			return err
		}
	} else if len(p.Artifacts()) > 0 {
		if builds, err = o.s.build(ctx, p, &o.build); err != nil {
			return err
		}
	}
	if !o.skipTests {
		if err := o.s.runTests(ctx, p, reg, &artifact.File{Builds: builds}, o.build.iso.mode()); err != nil {
			return err
		}
	}
	labels, _ := o.render.labelMap()
	res, err := o.s.render(ctx, p, reg, renderRequest{builds: builds, labels: labels, namespace: o.s.flags.Namespace})
	if err != nil {
		return err
	}
	c, opts, err := o.s.applyProject(ctx, p, &o.apply, res.Objects)
	if err != nil {
		return err
	}
	if o.verify {
		if err := o.s.runVerify(ctx, p, reg, &artifact.File{Builds: builds}, o.build.iso.mode(), c); err != nil {
			return err
		}
	}
	if !o.tail {
		return nil
	}
	// Stream the pods' logs until the command's context ends (Ctrl-C),
	// printed as skiff dev prints them.
	fmt.Fprintln(o.s.streams.Err, "streaming logs; press Ctrl-C to stop")
	printer := newDevPrinter(o.s.streams, opts.Namespace)
	dev.Tail(ctx, c.Core, res.Objects, opts.Namespace, printer.event)
	return nil
}
