package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/spf13/cobra"
)

// applyObjects applies objs to target with opts, rendering progress on
// stderr and the change set on stdout.
func (g *globalOptions) applyObjects(cmd *cobra.Command, f *applyFlags, target *kubeTarget, opts apply.Options, objs []manifest.Object) (*apply.Result, error) {
	return g.applyWith(cmd, f, target, opts, func(ctx context.Context, a *apply.Applier, o apply.Options) (*apply.Result, error) {
		return a.Apply(ctx, objs, o)
	})
}

// applyWith runs one apply-like operation (Apply, Rollback) of an Applier
// for target, rendering progress on stderr and the change set on stdout.
func (g *globalOptions) applyWith(cmd *cobra.Command, f *applyFlags, target *kubeTarget, opts apply.Options,
	do func(context.Context, *apply.Applier, apply.Options) (*apply.Result, error)) (*apply.Result, error) {
	quietClientGo()
	target.Config.QPS, target.Config.Burst = 200, 400 // one apply is a burst of small requests
	applier, err := apply.New(target.Config)
	if err != nil {
		return nil, err
	}
	prog := newProgress(g.streams.Err)
	opts.OnEvent = prog.event
	res, err := do(cmd.Context(), applier, opts)
	prog.event(apply.Event{Type: apply.EventPhase}) // end any live block
	var verr *apply.ValidationError
	if errors.As(err, &verr) && len(verr.Problems) > 1 {
		for _, p := range verr.Problems {
			fmt.Fprintf(g.streams.Err, "  %s\n", p)
		}
		return res, fmt.Errorf("%d problem(s) found, nothing was changed in namespace %q", len(verr.Problems), opts.Namespace)
	}
	if res != nil {
		if perr := printApplyResult(g.streams.Out, f.Output, opts, res); perr != nil {
			return res, errors.Join(err, perr)
		}
	}
	return res, err
}

// releaseStore reaches release artifacts with the global registry flags.
func (g *globalOptions) releaseStore(p *config.Project) *release.Store {
	return &release.Store{Client: g.registry(p)}
}
