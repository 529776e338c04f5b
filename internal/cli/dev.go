package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/dev"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/render"
)

// devFlags are skaffold dev's flags, with Skaffold's names.
type devFlags struct {
	AutoBuild, AutoSync, AutoDeploy bool
	Cleanup, NoPrune                bool
	CacheArtifacts                  bool
	PortForward                     []string
	Tail                            bool
	Trigger                         string
	PollInterval                    int
	App                             string
	StatusCheck                     bool
	Deadline                        time.Duration
}

func (f *devFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.AutoBuild, "auto-build", true, "rebuild when sources change; when false, press Enter to build")
	fl.BoolVar(&f.AutoSync, "auto-sync", true, "sync files covered by sync rules when they change; when false, press Enter to sync")
	fl.BoolVar(&f.AutoDeploy, "auto-deploy", true, "redeploy when manifests or images change; when false, press Enter to deploy")
	fl.BoolVar(&f.Cleanup, "cleanup", true, "on exit, delete what was deployed (and the namespace when skiff dev made it)")
	fl.BoolVar(&f.NoPrune, "no-prune", false, "keep objects that leave the manifests instead of deleting them")
	fl.BoolVar(&f.CacheArtifacts, "cache-artifacts", true, "look up and store layers in the local and registry caches")
	fl.StringSliceVar(&f.PortForward, "port-forward", []string{"user"}, "what to port-forward: user (the portForward entries), services (every deployed Service), off; --port-forward alone means user,services")
	fl.Lookup("port-forward").NoOptDefVal = "user,services"
	fl.BoolVar(&f.Tail, "tail", true, "stream the logs of the deployed pods")
	fl.StringVar(&f.Trigger, "trigger", "notify", "how changes are noticed: notify (file system events), polling, manual (press Enter)")
	fl.IntVarP(&f.PollInterval, "watch-poll-interval", "i", 1000, "interval between scans with --trigger=polling, in milliseconds")
	fl.StringVar(&f.App, "app", "", "application name for the inventory (default: metadata.name of the configuration, else the directory name)")
	fl.BoolVar(&f.StatusCheck, "status-check", true, "wait until the deployed objects are ready after each deploy (default: deploy.statusCheck, else true)")
	fl.DurationVar(&f.Deadline, "status-check-deadline", 10*time.Minute, "deadline of each status check (default: deploy.statusCheckDeadlineSeconds, else 10m)")
}

// options checks the flags and maps them to the loop's options.
func (f *devFlags) options() (dev.Options, error) {
	o := dev.DefaultOptions()
	t, err := dev.ParseTrigger(f.Trigger)
	if err != nil {
		return o, usageError("--trigger: %v", err)
	}
	if f.PollInterval <= 0 {
		return o, usageError("--watch-poll-interval %d: use a positive number of milliseconds", f.PollInterval)
	}
	o.Trigger, o.PollInterval = t, time.Duration(f.PollInterval)*time.Millisecond
	o.AutoBuild, o.AutoSync, o.AutoDeploy = f.AutoBuild, f.AutoSync, f.AutoDeploy
	o.Cleanup, o.Tail = f.Cleanup, f.Tail
	o.ForwardUser = false
	for _, v := range f.PortForward {
		switch strings.TrimSpace(v) {
		case "user":
			o.ForwardUser = true
		case "services":
			o.ForwardServices = true
		case "true":
			o.ForwardUser, o.ForwardServices = true, true
		case "off", "false", "":
		default:
			return o, usageError("--port-forward %q: use user, services or off", v)
		}
	}
	return o, nil
}

func newDevCmd(g *globalOptions) *cobra.Command {
	f := &devFlags{}
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
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, g)
		},
	}
	f.add(cmd)
	return cmd
}

func (f *devFlags) run(cmd *cobra.Command, g *globalOptions) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	if f.Deadline <= 0 {
		return usageError("--status-check-deadline %s: use a positive duration such as 5m", f.Deadline)
	}
	p, err := g.loadProject(cmd)
	if err != nil {
		return err
	}
	settings := settingsOf(p)
	app := settings.App
	if f.App != "" {
		app = f.App
	}
	target, err := g.kube(settings.KubeContext)
	if err != nil {
		return err
	}
	ns := target.Namespace
	if !target.NamespaceExplicit {
		if ns, err = dev.NamespaceFor(app, currentUser()); err != nil {
			return err
		}
	}
	opts.Namespace = ns
	quietClientGo()
	target.Config.QPS, target.Config.Burst = 200, 400
	applier, err := apply.New(target.Config)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(target.Config)
	if err != nil {
		return err
	}
	prog := newProgress(g.streams.Err)
	aopts := apply.DefaultOptions()
	aopts.App, aopts.Namespace, aopts.CreateNamespace = app, ns, true
	aopts.NamespaceLabels = dev.NamespaceLabels(app)
	aopts.Prune = !f.NoPrune
	aopts.StatusCheck = f.StatusCheck
	if !cmd.Flags().Changed("status-check") && settings.StatusCheck != nil {
		aopts.StatusCheck = *settings.StatusCheck
	}
	aopts.StatusCheckDeadline = f.Deadline
	if !cmd.Flags().Changed("status-check-deadline") && settings.DeadlineSeconds > 0 {
		aopts.StatusCheckDeadline = time.Duration(settings.DeadlineSeconds) * time.Second
	}
	aopts.TolerateFailures = settings.TolerateFailures
	aopts.Release = releaseInfo()
	aopts.Release.Description = "skiff dev"
	aopts.OnEvent = func(e apply.Event) {
		if e.Type != apply.EventChange { // the loop prints the change set
			prog.event(e)
		}
	}
	dc, err := discovery.NewDiscoveryClientForConfig(target.Config)
	if err != nil {
		return err
	}
	pr := &buildProgress{w: g.streams.Err, verbose: g.Verbosity == "info" || g.Verbosity == "debug" || g.Verbosity == "trace"}
	printer := newDevPrinter(g.streams, ns)
	fmt.Fprintf(g.streams.Err, "skiff dev: %s into namespace %s (context %s)\n", app, ns, target.Context)
	r := &dev.Runner{
		Options: opts,
		Project: p,
		Load: func() (*config.Project, error) {
			return g.loadProject(cmd)
		},
		Builder:  &devBuilder{g: g, cmd: cmd, cacheArtifacts: f.CacheArtifacts, events: pr.event},
		Renderer: &devRenderer{g: g, namespace: ns, scoper: render.RESTMapperScoper{Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}},
		Deployer: &dev.ClusterDeployer{Applier: applier, Client: client, Options: aopts},
		Cluster:  &dev.Cluster{Config: target.Config, Client: client},
		Input:    g.streams.In,
		Events: func(e dev.Event) {
			prog.event(apply.Event{Type: apply.EventPhase}) // end a live status block
			printer.event(e)
		},
		CleanupContext: func() (context.Context, context.CancelFunc) {
			return interruptibleContext(g, 5*time.Minute)
		},
	}
	return r.Run(cmd.Context())
}

// interruptibleContext is the cleanup's context: Ctrl-C again stops it.
func interruptibleContext(g *globalOptions, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-sig:
			fmt.Fprintln(g.streams.Err, "interrupted again: stopping the cleanup, some objects may remain")
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

// currentUser names the developer for the dev namespace.
func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// devBuilder builds with skiff's builder (docker and kaniko artifacts
// daemonless, custom ones with their buildCommand).
type devBuilder struct {
	g              *globalOptions
	cmd            *cobra.Command
	cacheArtifacts bool
	events         func(build.Event)
}

func (b *devBuilder) Build(ctx context.Context, p *config.Project, arts []*config.Artifact) ([]artifact.Build, error) {
	opts := build.Options{
		DefaultRepo: b.g.DefaultRepo, Push: true, Concurrency: 1, CacheArtifacts: b.cacheArtifacts, Events: b.events,
	}
	s := p.BuildSettings()
	if s.Push != nil {
		opts.Push = *s.Push
	}
	if s.Concurrency != nil {
		opts.Concurrency = *s.Concurrency
	}
	opts.Registry = b.g.registry(p)
	return build.Run(ctx, build.Select(p, build.Artifacts(arts)), opts)
}

// devRenderer renders like skiff render, into the dev namespace.
type devRenderer struct {
	g         *globalOptions
	namespace string
	scoper    render.Scoper
}

func (r *devRenderer) Render(ctx context.Context, p *config.Project, builds []artifact.Build) ([]manifest.Object, error) {
	opts, err := r.g.renderOptionsFor(p, &renderFlags{})
	if err != nil {
		return nil, err
	}
	opts.Builds, opts.Namespace, opts.Scoper = builds, r.namespace, r.scoper
	res, err := render.Render(ctx, opts)
	if err != nil {
		return nil, err
	}
	for _, w := range res.Warnings {
		r.g.warn("%s", w)
	}
	return res.Objects, nil
}
