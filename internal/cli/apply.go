package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/hooks"
	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// applyFlags are the flags of every command that applies manifests.
type applyFlags struct {
	app              string
	force            bool
	prune            bool
	historyMax       int
	statusCheck      optBool
	deadline         optDuration
	tolerateFailures optBool
	onFailure        string
	output           string
}

func (f *applyFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.app, "app", "", "application name for the inventory and release records (default: metadata.name of the configuration, else the directory name)")
	fl.BoolVar(&f.force, "force", false, "take ownership of fields other field managers own, and adopt objects of another skiff inventory")
	fl.BoolVar(&f.force, "force-conflicts", false, "same as --force")
	_ = fl.MarkHidden("force-conflicts")
	fl.BoolVar(&f.prune, "prune", true, "after a successful apply, delete the objects of the previous apply that are no longer in the manifests")
	fl.IntVar(&f.historyMax, "history-max", 10, "release records to keep (0 keeps all)")
	boolFlag(fl, &f.statusCheck, "status-check", true, "wait until every applied object is ready (default: deploy.statusCheck, else true)")
	durationFlag(fl, &f.deadline, "status-check-deadline", 10*time.Minute, "deadline of the status check for the whole set (default: deploy.statusCheckDeadlineSeconds, else 10m)")
	boolFlag(fl, &f.tolerateFailures, "tolerate-failures-until-deadline", false, "keep waiting through failing pods until the deadline instead of failing fast (default: deploy.tolerateFailuresUntilDeadline)")
	fl.StringVar(&f.onFailure, "on-failure", "keep", "when the apply or status check fails: keep, rollback (re-apply the previous revision) or delete (what this apply created)")
	fl.StringVarP(&f.output, "output", "o", "text", "change set format on stdout: text or json")
}

// validate checks the flags before anything is read or contacted.
func (f *applyFlags) validate() error {
	if _, err := apply.ParseFailurePolicy(f.onFailure); err != nil {
		return usageError("--on-failure: %v", err)
	}
	if err := checkOutput(f.output, "text", "json"); err != nil {
		return err
	}
	if f.historyMax < 0 {
		return usageError("--history-max %d: use 0 (keep all) or more", f.historyMax)
	}
	if f.deadline.v <= 0 {
		return usageError("--status-check-deadline %s: use a positive duration such as 5m", f.deadline.v)
	}
	return nil
}

// options are the apply options of the flags over the configuration's
// deploy settings, for app; the caller sets the namespace (inNamespace,
// or an environment's).
func (f *applyFlags) options(s config.DeploySettings, app string, facts *gitinfo.Facts) apply.Options {
	o := apply.DefaultOptions()
	o.App = app
	o.Force, o.Prune, o.HistoryMax = f.force, f.prune, f.historyMax
	o.StatusCheck = f.statusCheck.or(s.StatusCheck)
	o.StatusCheckDeadline = f.deadline.orSeconds(s.DeadlineSeconds)
	o.TolerateFailures = f.tolerateFailures.or(&s.TolerateFailures)
	o.OnFailure, _ = apply.ParseFailurePolicy(f.onFailure) // checked by validate
	o.Release = releaseInfo(facts)
	return o
}

// inNamespace puts o in target's namespace, else deploy.kubectl's
// defaultNamespace when -n is not given. A namespace someone asked for by
// name is created when missing; the kubeconfig context's namespace is not.
func inNamespace(o *apply.Options, target *kube.Target, s config.DeploySettings) {
	o.Namespace, o.CreateNamespace = target.Namespace, target.NamespaceExplicit
	if !target.NamespaceExplicit && s.Namespace != "" {
		o.Namespace, o.CreateNamespace = s.Namespace, true
	}
}

// applyOptions are apply's and delete's options: flags, then the file
// names (or - for stdin).
type applyOptions struct {
	s     *session
	flags applyFlags
	files []string
}

func newApplyCmd(s *session) *cobra.Command {
	o := &applyOptions{s: s}
	cmd := &cobra.Command{
		Use:   "apply FILE... | -",
		Short: "Apply hydrated manifests with an inventory, prune and status check",
		Long: "Server-side apply hydrated manifests (files, or - for stdin) to the cluster as one\n" +
			"release of the application: validated by a dry run of the whole set first, so bad\n" +
			"input changes nothing; then Namespaces and CRDs, then the rest; then a status check\n" +
			"that watches every object; then objects of the previous release that left the set\n" +
			"are pruned. Each apply writes a release record (revision) for history and rollback.",
		Example: "  skiff apply -p production -n myapp --status-check=true myapp-1.0.0-production.yaml\n" +
			"  skiff render -n myapp | skiff apply -n myapp -",
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.files = a
			return runVerb(cmd.Context(), o)
		},
	}
	o.flags.add(cmd.Flags())
	return cmd
}

func (o *applyOptions) Validate() error { return o.flags.validate() }

func (o *applyOptions) Run(ctx context.Context) error {
	objs, err := manifest.ReadFiles(o.files, o.s.streams.In)
	if err != nil {
		return err
	}
	// apply also works on plain manifests without any configuration.
	p, err := o.s.optionalProject()
	if err != nil {
		return err
	}
	_, _, err = o.s.applyProject(ctx, p, &o.flags, objs)
	return err
}

// applyProject applies objs as p's application (p may be nil) with flags,
// to the cluster of the flags and configuration: the apply of skiff apply,
// deploy and run. It returns the cluster and the options used.
func (s *session) applyProject(ctx context.Context, p *config.Project, flags *applyFlags, objs []manifest.Object) (*kube.Clients, apply.Options, error) {
	var settings config.DeploySettings
	if p != nil {
		settings = p.DeploySettings()
	}
	app, err := appName(p, flags.app)
	if err != nil {
		return nil, apply.Options{}, err
	}
	c, err := s.connect(settings.KubeContext, nil)
	if err != nil {
		return nil, apply.Options{}, err
	}
	opts := flags.options(settings, app, s.facts(p))
	inNamespace(&opts, c.Target, settings)
	applier, err := c.Applier()
	if err != nil {
		return nil, opts, err
	}
	var hr *hooks.Runner
	if p != nil {
		hr = s.hookRunner(p, c)
		if err := runDeployHooks(ctx, hr, p, hooks.PreDeploy, c.Target.Context, opts.Namespace, objs); err != nil {
			return c, opts, err
		}
	}
	prog := newProgress(s.streams.Err)
	opts.OnEvent = prog.event
	res, err := applier.Apply(ctx, objs, opts)
	prog.done()
	if err := s.reportApply(flags.output, opts, res, err); err != nil || p == nil {
		return c, opts, err
	}
	return c, opts, runDeployHooks(ctx, hr, p, hooks.PostDeploy, c.Target.Context, opts.Namespace, objs)
}

// reportApply prints an apply's (or rollback's) change set on stdout and
// returns the apply's error, with the problems of a failed validation on
// stderr, one per line.
func (s *session) reportApply(format string, opts apply.Options, res *apply.Result, err error) error {
	var verr *apply.ValidationError
	if errors.As(err, &verr) && len(verr.Problems) > 1 {
		for _, p := range verr.Problems {
			fmt.Fprintf(s.streams.Err, "  %s\n", p)
		}
		return fmt.Errorf("%d problem(s) found, nothing was changed in namespace %q", len(verr.Problems), opts.Namespace)
	}
	if res != nil {
		if perr := printApplyResult(s.streams.Out, format, opts, res); perr != nil {
			return errors.Join(err, perr)
		}
	}
	return err
}
