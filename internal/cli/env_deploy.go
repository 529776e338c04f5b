package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/render"
)

// envDeployOptions are skiff env deploy's.
type envDeployOptions struct {
	s            *session
	apply        applyFlags
	builds       buildsFlags
	render       renderFlags
	ref          string
	mergeRequest string
	release      string
	approve      bool
	dotenv       string
	name         string
	onFailureSet bool
}

func newEnvDeployCmd(s *session) *cobra.Command {
	o := &envDeployOptions{s: s}
	cmd := &cobra.Command{
		Use:   "deploy NAME",
		Short: "Render for an environment and apply to its namespace",
		Long: "Deploy to an environment: render the manifests with the environment's profiles and the\n" +
			"built images (-a), or take them unchanged from a release (--release), and apply them to\n" +
			"the environment's namespace and cluster with its onFailure policy. Protected\n" +
			"environments take only tags matching requireTag, with approval (--approve, or a\n" +
			"confirmation on a terminal). Namespaces skiff creates are labelled with the app,\n" +
			"environment, ref and, for dynamic environments, when they expire. With --dotenv, what\n" +
			"was deployed (environment, namespace, URL, revision, images) is written as KEY=VALUE\n" +
			"lines, for GitLab's dotenv reports and GitHub's step outputs.",
		Example: "  skiff env deploy review --ref \"$CI_COMMIT_REF_NAME\" -a build.json --dotenv deploy.env\n" +
			"  skiff env deploy staging --release v1.2.0\n" +
			"  skiff env deploy production --release v1.2.0 --approve",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.name, o.onFailureSet = a[0], cmd.Flags().Changed("on-failure")
			return runVerb(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	o.apply.add(fl)
	o.builds.add(fl)
	o.render.addDigestSource(fl)
	fl.StringVar(&o.ref, "ref", "", "branch or tag being deployed (default: CI_COMMIT_TAG, CI_COMMIT_REF_NAME, GitHub's ref, else the git checkout)")
	fl.StringVar(&o.mergeRequest, "merge-request", "", "merge request number, for namespace templates (default: CI_MERGE_REQUEST_IID)")
	fl.StringVar(&o.release, "release", "", "deploy the manifests stored in this release: a tag of the release repository, or a full reference")
	fl.BoolVar(&o.approve, "approve", false, "approve a deploy to an environment that requires approval")
	fl.StringVar(&o.dotenv, "dotenv", "", "write what was deployed to this file as KEY=VALUE lines (SKIFF_URL, SKIFF_NAMESPACE, …): a GitLab dotenv report, or $GITHUB_OUTPUT")
	return cmd
}

func (o *envDeployOptions) Validate() error {
	if err := o.apply.validate(); err != nil {
		return err
	}
	if err := o.render.validate(); err != nil {
		return err
	}
	if o.release != "" && o.builds.given() {
		return usageError("--release takes the manifests from the release; do not combine it with -a or -i")
	}
	return o.builds.validate()
}

func (o *envDeployOptions) Run(ctx context.Context) error {
	s := o.s
	p, err := s.project()
	if err != nil {
		return err
	}
	p, e, err := s.environment(p, o.name)
	if err != nil {
		return err
	}
	app, _ := appName(p, o.apply.app)
	facts := s.facts(p)
	reg := s.registry(p)
	req := env.DeployRequest{
		App: app, Environment: *e, Ref: facts.RefFor(o.ref, o.mergeRequest), User: facts.User, Vars: config.Environ(),
		Approved: o.approve, OnFailureSet: o.onFailureSet,
	}
	deps := env.DeployDeps{
		Connect:  s.environments(),
		Releases: &release.Store{Client: reg},
		Confirm:  s.confirm,
	}
	if o.release != "" {
		if req.Release, err = s.releaseRef(p, app, o.release); err != nil {
			return err
		}
	} else {
		ds := render.DigestSource(o.render.digestSource)
		if !o.builds.given() && len(p.Artifacts()) > 0 && ds != render.DigestNone {
			return fmt.Errorf("no builds given: pass -a FILE (from skiff build --file-output), -i NAME=REF, or --release")
		}
		builds, err := o.builds.read(s.streams.In)
		if err != nil {
			return err
		}
		deps.Render = s.renderInto(p, reg, builds, ds)
	}
	// The apply options of the flags and configuration; Deploy adds the
	// environment's namespace, labels and failure policy.
	req.Apply = o.apply.options(p.DeploySettings(), app, facts)
	prog := newProgress(s.streams.Err)
	deps.Events = s.printEvents(prog)
	res, err := env.Deploy(ctx, deps, req)
	prog.done()
	if err := s.reportApply(o.apply.output, res.Options, res.Apply, err); err != nil {
		return err
	}
	if o.dotenv != "" {
		if err := writeFileAtomic(o.dotenv, res.Dotenv()); err != nil {
			return err
		}
	}
	where := "namespace " + res.Target.Namespace
	if res.Target.URL != "" {
		where += ", " + res.Target.URL
	}
	fmt.Fprintf(s.streams.Err, "environment %s: %s deployed (%s)\n", e.Name, env.DescribeRef(res.Ref), where)
	return nil
}
