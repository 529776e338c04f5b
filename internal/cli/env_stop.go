package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/spf13/cobra"
)

func newEnvStopCmd(g *globalOptions) *cobra.Command {
	var ref, app string
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Remove a dynamic environment: its inventory, then its namespace when skiff created it",
		Long: "Stop a dynamic environment for a ref: delete everything in its inventory, then the\n" +
			"namespace if skiff created it. It works without a configuration file (a CI stop job\n" +
			"with no checkout): pass --app, and the namespace is found by its labels.",
		Example: "  skiff env stop review --ref \"$CI_COMMIT_REF_NAME\" --app myapp",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runEnvStop(cmd, args[0], ref, app)
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "the branch or merge request ref whose environment to stop (default: CI_COMMIT_REF_NAME, else the git checkout)")
	cmd.Flags().StringVar(&app, "app", "", "application name (default: from the configuration); needed without a configuration file")
	return cmd
}

func (g *globalOptions) runEnvStop(cmd *cobra.Command, name, refFlag, app string) error {
	ctx := cmd.Context()
	ref := resolveRef(refFlag, "")
	if ref.Name == "" {
		return usageError("which ref? pass --ref BRANCH")
	}
	var e *config.Environment
	var namespace string
	if g.hasConfig() {
		p, err := g.loadProject(cmd)
		if err != nil {
			return err
		}
		if e, err = p.Environment(name); err != nil {
			return err
		}
		if !e.Dynamic {
			return fmt.Errorf("environment %s is not dynamic; it is never stopped (use skiff delete -n NAMESPACE to remove what is deployed)", name)
		}
		if app == "" {
			app = p.Name()
		}
		t, err := resolveTarget(app, e, ref)
		if err != nil {
			return err
		}
		namespace = t.Namespace
	} else if app == "" {
		return usageError("no configuration file here: pass --app NAME so the environment can be found by its labels")
	}
	c, err := g.clients(e)
	if err != nil {
		return err
	}
	if namespace == "" {
		live, err := env.ListNamespaces(ctx, c.kube, app, name)
		if err != nil {
			return err
		}
		for _, ns := range live {
			if ns.Ref == ref.Name || ns.Ref == env.RefSlug(ref.Name) {
				namespace = ns.Name
			}
		}
		if namespace == "" {
			fmt.Fprintf(g.streams.Err, "environment %s of %s for %s: nothing deployed\n", name, app, refDescription(ref))
			return nil
		}
	}
	return g.stopNamespace(ctx, e, app, name, namespace)
}

// stopNamespace deletes app's inventory in namespace, then the namespace
// when skiff created it.
func (g *globalOptions) stopNamespace(ctx context.Context, e *config.Environment, app, envName, namespace string) error {
	target, err := g.envKube(e, namespace)
	if err != nil {
		return err
	}
	applier, err := apply.New(target.Config)
	if err != nil {
		return err
	}
	prog := newProgress(g.streams.Err)
	changes, err := applier.Delete(ctx, apply.DeleteOptions{App: app, Namespace: namespace, Wait: true, WaitTimeout: 5 * time.Minute, OnEvent: prog.event})
	prog.event(apply.Event{Type: apply.EventPhase})
	printChanges(g.streams.Out, changes)
	if err != nil {
		return err
	}
	c, err := g.clients(e)
	if err != nil {
		return err
	}
	ns, ok, err := env.GetNamespace(ctx, c.kube, namespace)
	if err != nil {
		return err
	}
	if ok && ns.CreatedBySkiff && !ns.Immutable {
		if err := env.DeleteNamespace(ctx, c.kube, namespace); err != nil {
			return err
		}
		fmt.Fprintf(g.streams.Out, "Namespace %s deleted\n", namespace)
	}
	fmt.Fprintf(g.streams.Err, "environment %s stopped (namespace %s)\n", envName, namespace)
	return nil
}

func newEnvGCCmd(g *globalOptions) *cobra.Command {
	var dryRun bool
	var app string
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Stop every dynamic environment past its expiry",
		Long: "Stop every dynamic environment whose namespace is past its skiff.dev/expires-at time.\n" +
			"Protected and immutable environments are never stopped. Without a configuration\n" +
			"file, it collects the expired environments of every application (or of --app).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			protected := map[string]bool{}
			if g.hasConfig() {
				p, err := g.loadProject(cmd)
				if err != nil {
					return err
				}
				if app == "" {
					app = p.Name()
				}
				for _, e := range p.Environments() {
					if e.Protected {
						protected[e.Name] = true
					}
				}
			}
			c, err := g.clients(nil)
			if err != nil {
				return err
			}
			live, err := env.ListNamespaces(ctx, c.kube, app, "")
			if err != nil {
				return err
			}
			now := time.Now()
			var failed []string
			stopped := 0
			for _, ns := range live {
				if !ns.Expired(now) || ns.Immutable || protected[ns.Environment] || !ns.CreatedBySkiff {
					continue
				}
				if dryRun {
					fmt.Fprintf(g.streams.Out, "would stop %s/%s (namespace %s, expired %s)\n", ns.App, ns.Environment, ns.Name, ns.ExpiresAt.Format(time.RFC3339))
					continue
				}
				if err := g.stopNamespace(ctx, nil, ns.App, ns.Environment, ns.Name); err != nil {
					fmt.Fprintf(g.streams.Err, "skiff: stopping %s: %v\n", ns.Name, err)
					failed = append(failed, ns.Name)
					continue
				}
				stopped++
			}
			if !dryRun {
				fmt.Fprintf(g.streams.Err, "env gc: %d expired environment(s) stopped\n", stopped)
			}
			if len(failed) > 0 {
				return fmt.Errorf("could not stop %s", strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only print what would be stopped")
	cmd.Flags().StringVar(&app, "app", "", "only this application (default: the configuration's, else every application)")
	return cmd
}
