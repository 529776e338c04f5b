package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/dev"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/render"
)

// devOptions are skaffold dev's flags, with Skaffold's names.
type devOptions struct {
	s                               *session
	autoBuild, autoSync, autoDeploy bool
	cleanup, noPrune                bool
	cacheArtifacts                  bool
	portForward                     []string
	tail                            bool
	trigger                         string
	pollInterval                    int
	app                             string
	statusCheck                     optBool
	deadline                        optDuration
	iso                             isolationFlags
}

func newDevCmd(s *session) *cobra.Command {
	o := &devOptions{s: s}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the inner development loop: rebuild, sync, logs, port-forward",
		Long: "Build and deploy into your own namespace (default: <app>-dev-<user>, created and removed\n" +
			"by skiff), then watch exactly the files each image is built from, the manifests and the\n" +
			"configuration: a change rebuilds only the artifacts it affects and redeploys what changed;\n" +
			"files covered by sync rules are copied into the running containers instead. The pods'\n" +
			"logs go to stdout and the portForward entries are forwarded. Ctrl-C stops and, with\n" +
			"--cleanup, deletes what was deployed.",
		Example: "  skiff dev -p development\n" +
			"  skiff dev --port-forward --cleanup=false -n my-namespace\n" +
			"  skiff dev --trigger=polling --watch-poll-interval=500",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.autoBuild, "auto-build", true, "rebuild when sources change; when false, press Enter to build")
	fl.BoolVar(&o.autoSync, "auto-sync", true, "sync files covered by sync rules when they change; when false, press Enter to sync")
	fl.BoolVar(&o.autoDeploy, "auto-deploy", true, "redeploy when manifests or images change; when false, press Enter to deploy")
	fl.BoolVar(&o.cleanup, "cleanup", true, "on exit, delete what was deployed (and the namespace when skiff dev made it)")
	fl.BoolVar(&o.noPrune, "no-prune", false, "keep objects that leave the manifests instead of deleting them")
	fl.BoolVar(&o.cacheArtifacts, "cache-artifacts", true, "look up and store layers in the local and registry caches")
	fl.StringSliceVar(&o.portForward, "port-forward", []string{"user"}, "what to port-forward: user (the portForward entries), services (every deployed Service), off; --port-forward alone means user,services")
	fl.Lookup("port-forward").NoOptDefVal = "user,services"
	fl.BoolVar(&o.tail, "tail", true, "stream the logs of the deployed pods")
	fl.StringVar(&o.trigger, "trigger", "notify", "how changes are noticed: notify (file system events), polling, manual (press Enter)")
	fl.IntVarP(&o.pollInterval, "watch-poll-interval", "i", 1000, "interval between scans with --trigger=polling, in milliseconds")
	fl.StringVar(&o.app, "app", "", "application name for the inventory (default: metadata.name of the configuration, else the directory name)")
	boolFlag(fl, &o.statusCheck, "status-check", true, "wait until the deployed objects are ready after each deploy (default: deploy.statusCheck, else true)")
	durationFlag(fl, &o.deadline, "status-check-deadline", 10*time.Minute, "deadline of each status check (default: deploy.statusCheckDeadlineSeconds, else 10m)")
	o.iso.add(fl)
	return cmd
}

func (o *devOptions) Validate() error {
	if err := o.iso.validate(); err != nil {
		return err
	}
	if _, err := o.loopOptions(); err != nil {
		return err
	}
	if o.deadline.v <= 0 {
		return usageError("--status-check-deadline %s: use a positive duration such as 5m", o.deadline.v)
	}
	return nil
}

// loopOptions maps the flags to the loop's options.
func (o *devOptions) loopOptions() (dev.Options, error) {
	opts := dev.DefaultOptions()
	t, err := dev.ParseTrigger(o.trigger)
	if err != nil {
		return opts, usageError("--trigger: %v", err)
	}
	if o.pollInterval <= 0 {
		return opts, usageError("--watch-poll-interval %d: use a positive number of milliseconds", o.pollInterval)
	}
	opts.Trigger, opts.PollInterval = t, time.Duration(o.pollInterval)*time.Millisecond
	opts.AutoBuild, opts.AutoSync, opts.AutoDeploy = o.autoBuild, o.autoSync, o.autoDeploy
	opts.Cleanup, opts.Tail = o.cleanup, o.tail
	opts.ForwardUser = false
	for _, v := range o.portForward {
		switch strings.TrimSpace(v) {
		case "user":
			opts.ForwardUser = true
		case "services":
			opts.ForwardServices = true
		case "true":
			opts.ForwardUser, opts.ForwardServices = true, true
		case "off", "false", "":
		default:
			return opts, usageError("--port-forward %q: use user, services or off", v)
		}
	}
	return opts, nil
}

func (o *devOptions) isolation() (*session, *isolationFlags, string, bool) {
	return o.s, &o.iso, "", true // dev builds from its first iteration on
}

func (o *devOptions) Run(ctx context.Context) error {
	s := o.s
	opts, _ := o.loopOptions() // checked by Validate
	p, err := s.project()
	if err != nil {
		return err
	}
	settings := p.DeploySettings()
	app, _ := appName(p, o.app)
	facts := s.facts(p)
	c, err := s.connect(settings.KubeContext, nil)
	if err != nil {
		return err
	}
	ns := c.Target.Namespace
	if !c.Target.NamespaceExplicit {
		if ns, err = dev.NamespaceFor(app, facts.LocalUser); err != nil {
			return err
		}
	}
	opts.Namespace = ns
	prog := newProgress(s.streams.Err)
	aopts := apply.DefaultOptions()
	aopts.App, aopts.Namespace, aopts.CreateNamespace = app, ns, true
	aopts.NamespaceLabels = dev.NamespaceLabels(app)
	aopts.Prune = !o.noPrune
	aopts.StatusCheck = o.statusCheck.or(settings.StatusCheck)
	aopts.StatusCheckDeadline = o.deadline.orSeconds(settings.DeadlineSeconds)
	aopts.TolerateFailures = settings.TolerateFailures
	aopts.Release = releaseInfo(facts)
	aopts.Release.Description = "skiff dev"
	aopts.OnEvent = func(e apply.Event) {
		if e.Type != apply.EventChange { // the loop prints the change set
			prog.event(e)
		}
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.Target.Config)
	if err != nil {
		return err
	}
	scoper := render.RESTMapperScoper{Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
	pr := &buildProgress{w: s.streams.Err, verbose: s.verbose()}
	printer := newDevPrinter(s.streams, ns)
	fmt.Fprintf(s.streams.Err, "skiff dev: %s into namespace %s (context %s)\n", app, ns, c.Target.Context)
	renderer := &devRenderer{s: s, namespace: ns, scoper: scoper}
	renderer.last.Store(p)
	hk := &devHooks{runner: s.hookRunner(p, c), project: renderer.last.Load, kubeContext: c.Target.Context, namespace: ns}
	r := &dev.Runner{
		Options:   opts,
		Project:   p,
		Load:      s.project,
		Builder:   &devBuilder{s: s, cacheArtifacts: o.cacheArtifacts, iso: &o.iso, events: pr.event},
		Renderer:  renderer,
		Deployer:  &hookedDeployer{Deployer: &dev.ClusterDeployer{Clients: c, Options: aopts}, hooks: hk},
		SyncHooks: hk.sync,
		Cluster:   &dev.Cluster{Config: c.Target.Config, Client: c.Core},
		Input:     s.streams.In,
		Events: func(e dev.Event) {
			prog.done() // end a live status block
			printer.event(e)
		},
		CleanupContext: func() (context.Context, context.CancelFunc) {
			return s.interruptibleContext(5 * time.Minute)
		},
	}
	return r.Run(ctx)
}

// interruptibleContext is the cleanup's context: Ctrl-C again stops it.
func (s *session) interruptibleContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-sig:
			fmt.Fprintln(s.streams.Err, "interrupted again: stopping the cleanup, some objects may remain")
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		cancel()
		<-done
	}
}

// devBuilder builds with skiff's builder (docker and kaniko artifacts
// daemonless, custom ones with their buildCommand).
type devBuilder struct {
	s              *session
	cacheArtifacts bool
	iso            *isolationFlags
	events         func(build.Event)
}

func (b *devBuilder) Build(ctx context.Context, p *config.Project, arts []*config.Artifact, built map[string]string) ([]artifact.Build, error) {
	settings := p.BuildSettings()
	opts := build.Options{
		DefaultRepo: b.s.flags.DefaultRepo, Push: true, Concurrency: 1, CacheArtifacts: b.cacheArtifacts, Events: b.events,
		Registry: b.s.registry(p), Isolation: b.iso.mode(), Allow: b.iso.entitlements(), Built: built,
	}
	if settings.Push != nil {
		opts.Push = *settings.Push
	}
	if settings.Concurrency != nil {
		opts.Concurrency = *settings.Concurrency
	}
	opts.Wrap = b.s.wrapBuildHooks(p, opts.Push)
	return build.Run(ctx, build.SelectMissing(p, build.Artifacts(arts), built), opts)
}

// devRenderer renders like skiff render, into the dev namespace.
type devRenderer struct {
	s         *session
	namespace string
	scoper    render.Scoper
	// last is the project last rendered, which the hooks follow.
	last atomic.Pointer[config.Project]
}

func (r *devRenderer) Render(ctx context.Context, p *config.Project, builds []artifact.Build) ([]manifest.Object, error) {
	r.last.Store(p)
	opts, err := r.s.renderOptions(p, r.s.registry(p), renderRequest{builds: builds, namespace: r.namespace, scoper: r.scoper})
	if err != nil {
		return nil, err
	}
	var res *render.Result
	err = r.s.withRenderHooks(ctx, p, r.namespace, func() (err error) {
		res, err = render.Render(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, w := range res.Warnings {
		r.s.warn("%s", w)
	}
	return res.Objects, nil
}
