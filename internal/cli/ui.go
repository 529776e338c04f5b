package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/ui"
	"github.com/skiff-dev/skiff/internal/ui/cluster"
)

// uiOptions are skiff ui's.
type uiOptions struct {
	s           *session
	listen      string
	allowRemote bool
	readOnly    bool
	open        bool
}

// defaultUIListen is where skiff ui listens without --listen.
const defaultUIListen = "127.0.0.1:7420"

func newUICmd(s *session) *cobra.Command {
	o := &uiOptions{s: s}
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Show what is deployed where in a browser, live; roll back and stop review environments",
		Long: "Serve a local web page of the configuration's environments (what skiff env list shows,\n" +
			"updated live from Kubernetes watches), each environment's history, inventory status and\n" +
			"diffs between revisions, and the releases in the registry. Rollback and stop run the\n" +
			"same workflows as skiff env rollback and env stop, behind a confirmation; --read-only\n" +
			"hides them. It reads the clusters with your kubeconfig's credentials, so it listens on\n" +
			"loopback and serves only browsers that open the address it prints (with an access key).",
		Example: "  skiff ui\n" +
			"  skiff ui --read-only --listen 127.0.0.1:0\n" +
			"  skiff ui -f examples/myapp/skiff.yaml --kube-context staging-cluster",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", defaultUIListen, "address to listen on, HOST:PORT (port 0: a free one); a non-loopback host needs --allow-remote")
	f.BoolVar(&o.allowRemote, "allow-remote", false, "allow a --listen address other hosts can reach (the page shows your clusters with your credentials)")
	f.BoolVar(&o.readOnly, "read-only", false, "show the environments without the rollback and stop actions, and refuse them")
	f.BoolVar(&o.open, "open", false, "open the address in the desktop's browser (xdg-open)")
	return cmd
}

func (o *uiOptions) Validate() error {
	if _, port, err := net.SplitHostPort(o.listen); err != nil || port == "" {
		return usageError("--listen %q: use HOST:PORT, such as 127.0.0.1:7420", o.listen)
	}
	if !ui.ListenLoopback(o.listen) && !o.allowRemote {
		return usageError("--listen %s is not a loopback address: skiff ui shows your clusters with your credentials; add --allow-remote to serve it there anyway", o.listen)
	}
	return nil
}

func (o *uiOptions) Run(ctx context.Context) error {
	s := o.s
	p, err := s.project()
	if err != nil {
		return err
	}
	src, actions := s.uiSource(p)
	opts := ui.Options{App: p.Name(), Source: src, ReadOnly: o.readOnly, Logf: func(format string, a ...any) {
		s.log().Warn(fmt.Sprintf(format, a...))
	}}
	if !o.readOnly {
		opts.Actions = actions
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("skiff ui: %w (pass --listen 127.0.0.1:0 for a free port)", err)
	}
	opts.Listen = ln.Addr().String()
	srv, err := ui.New(opts)
	if err != nil {
		ln.Close()
		return err
	}
	if !ui.ListenLoopback(opts.Listen) {
		s.warn("skiff ui listens on %s, which other hosts may reach: anyone with the address below sees your clusters through your credentials", opts.Listen)
	}
	addr := srv.URL("http://" + opts.Listen)
	fmt.Fprintf(s.streams.Out, "skiff ui: open %s\n", addr)
	mode := ""
	if o.readOnly {
		mode = ", read-only"
	}
	fmt.Fprintf(s.streams.Err, "skiff ui serves %s's environments until interrupted (Ctrl-C)%s\n", p.Name(), mode)
	if o.open {
		if err := exec.Command("xdg-open", addr).Start(); err != nil {
			s.warn("--open: %v; open the address yourself", err)
		}
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	srv.Close()
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(shut)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// uiSource composes skiff ui's Source and Actions over p: the engine call of
// env list, the clusters of the environments once per cluster and
// identity, the release repository, and env rollback's and env stop's
// workflows with the same deployer and apply options as the CLI.
func (s *session) uiSource(p *config.Project) (*cluster.Source, *cluster.Actions) {
	app := p.Name()
	facts := s.facts(p)
	connect := s.environments()
	configured := func(name string) *config.Environment {
		envs := p.Environments()
		for i := range envs {
			if envs[i].Name == name {
				return &envs[i]
			}
		}
		return nil // a namespace of an environment no longer configured
	}
	contextOf := func(e *config.Environment) string {
		c, err := connect(e)
		if err != nil {
			return ""
		}
		return c.Target.Context
	}
	src := &cluster.Source{
		App: app, Remote: remoteURL(facts),
		List: func(ctx context.Context) ([]ui.Environment, error) {
			rows, err := env.List(ctx, p, facts.User, config.Environ(), connect)
			if err != nil {
				return nil, err
			}
			return cluster.Rows(rows, p.Environments(), contextOf), nil
		},
		Clients: func(id ui.ID) (cluster.Clients, error) {
			c, err := connect(configured(id.Name))
			if err != nil {
				return cluster.Clients{}, err
			}
			a, err := c.Applier()
			return cluster.Clients{Applier: a, Kube: c.Core}, err
		},
	}
	if repo, err := s.releaseRepo(p, app); err == nil {
		src.Store, src.Repository = &release.Store{Client: s.registry(p)}, repo
	} else {
		s.log().Info("no releases shown", "reason", err)
	}
	actions := &cluster.Actions{App: app, Source: src, User: facts.User, Resolve: func(name string) (*cluster.Target, error) {
		pe, e, err := s.environment(p, name)
		if err != nil {
			return nil, err
		}
		c, err := connect(e)
		if err != nil {
			return nil, err
		}
		flags := defaultApplyFlags()
		return &cluster.Target{Environment: *e, Clients: c, Apply: flags.options(pe.DeploySettings(), app, facts)}, nil
	}}
	return src, actions
}

// remoteURL is the origin remote of the project's repository ("" outside
// one); skiff ui links versions to their commits from its host and path.
func remoteURL(f *gitinfo.Facts) string {
	if f.Repo == nil {
		return ""
	}
	return f.Repo.RemoteURL("origin")
}

// defaultApplyFlags are the apply flags as a command line without them
// leaves them: the configuration's deploy settings decide.
func defaultApplyFlags() applyFlags {
	var f applyFlags
	f.add(pflag.NewFlagSet("defaults", pflag.ContinueOnError))
	return f
}
