package hooks

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/skiff-dev/skiff/internal/config"
)

// Phase names when hooks run, with Skaffold's names.
type Phase string

const (
	PreBuild   Phase = "pre-build"
	PostBuild  Phase = "post-build"
	PreSync    Phase = "pre-sync"
	PostSync   Phase = "post-sync"
	PreRender  Phase = "pre-render"
	PostRender Phase = "post-render"
	PreDeploy  Phase = "pre-deploy"
	PostDeploy Phase = "post-deploy"
)

func (p Phase) before() bool {
	return p == PreBuild || p == PreSync || p == PreRender || p == PreDeploy
}

// Runner runs hooks. The zero value runs host hooks, writing to stderr.
type Runner struct {
	// Out receives the hooks' output and a line when a phase's hooks start
	// and complete.
	Out    io.Writer
	Static Static
	// Cluster runs container hooks; without it they fail.
	Cluster *Cluster

	visited sync.Map
}

func (r *Runner) out() io.Writer {
	if r.Out == nil {
		return io.Discard
	}
	return r.Out
}

// step is one hook: a host command, or a container command with the
// containers it runs in.
type step struct {
	host      *config.HostHook
	container []string
	sel       selector
}

// run runs steps in order; the first failure stops it, returned as an
// error at the hook's field of c (path.before[i] / path.after[i]) that
// carries the end of the hook's output.
func (r *Runner) run(ctx context.Context, c *config.Config, path string, phase Phase, steps []step, env []string, namespaces []string, label string) error {
	if len(steps) == 0 {
		return nil
	}
	fmt.Fprintf(r.out(), "Starting %s hooks%s...\n", phase, label)
	list := "after"
	if phase.before() {
		list = "before"
	}
	for i, s := range steps {
		var err error
		switch {
		case s.host != nil:
			err = r.runHost(ctx, *s.host, env)
		case len(s.container) > 0:
			err = r.runContainer(ctx, s.container, namespaces, s.sel)
		}
		if err != nil {
			field := fmt.Sprintf("%s.%s[%d]", path, list, i)
			msg := fmt.Sprintf("%s hook failed: %v", phase, err)
			if c == nil {
				return &positioned{msg: field + ": " + msg, err: err}
			}
			return &positioned{msg: c.ErrorAt(field, msg).Error(), err: err}
		}
	}
	fmt.Fprintf(r.out(), "Completed %s hooks%s\n", phase, label)
	return nil
}

// Build runs an artifact's build hooks of phase (PreBuild or PostBuild);
// path is the hooks' field, e.g. "build.artifacts[0].hooks".
func (r *Runner) Build(ctx context.Context, c *config.Config, path string, h config.BuildHooks, phase Phase, env BuildEnv) error {
	list := pick(phase, h.PreHooks, h.PostHooks)
	var steps []step
	for i := range list {
		steps = append(steps, step{host: &list[i]})
	}
	return r.run(ctx, c, path, phase, steps, append(r.Static.env(), env.env()...), nil, "")
}

// Render runs the manifests' render hooks of phase (PreRender or
// PostRender).
func (r *Runner) Render(ctx context.Context, c *config.Config, h config.RenderHooks, phase Phase, env RenderEnv) error {
	list := pick(phase, h.PreHooks, h.PostHooks)
	var steps []step
	for _, it := range list {
		if it.HostHook != nil {
			steps = append(steps, step{host: it.HostHook})
		}
	}
	return r.run(ctx, c, "manifests.hooks", phase, steps, append(r.Static.env(), env.env()...), nil, "")
}

// Deploy runs a deployer's hooks of phase (PreDeploy or PostDeploy); path
// is e.g. "deploy.kubectl.hooks". Container hooks run in the matching
// running containers of env.Namespaces, once per container and phase for
// the Runner's lifetime (a dev session).
func (r *Runner) Deploy(ctx context.Context, c *config.Config, path string, h config.DeployHooks, phase Phase, env DeployEnv) error {
	list := pick(phase, h.PreHooks, h.PostHooks)
	var steps []step
	for _, it := range list {
		switch {
		case it.HostHook != nil:
			steps = append(steps, step{host: it.HostHook})
		case it.ContainerHook != nil:
			ch := it.ContainerHook
			steps = append(steps, step{container: ch.Command, sel: once(&r.visited, phase, nameSelector(ch.PodName, ch.ContainerName))})
		}
	}
	return r.run(ctx, c, path, phase, steps, append(r.Static.env(), env.env()...), env.Namespaces, "")
}

// Sync runs an artifact's sync hooks of phase (PreSync or PostSync);
// container hooks run in the containers running image (the artifact's
// deployed reference).
func (r *Runner) Sync(ctx context.Context, c *config.Config, path string, h config.SyncHooks, phase Phase, artifact, image string, env SyncEnv) error {
	list := pick(phase, h.PreHooks, h.PostHooks)
	var steps []step
	for _, it := range list {
		if it.HostHook != nil {
			steps = append(steps, step{host: it.HostHook})
		} else if it.ContainerHook != nil {
			steps = append(steps, step{container: it.ContainerHook.Command, sel: imageSelector(image)})
		}
	}
	label := fmt.Sprintf(" for artifact %q", artifact)
	return r.run(ctx, c, path, phase, steps, append(r.Static.env(), env.env()...), env.Namespaces, label)
}

// pick is a phase's list: the before hooks or the after hooks.
func pick[T any](phase Phase, before, after []T) []T {
	if phase.before() {
		return before
	}
	return after
}

// positioned is a hook's failure named by the hook's place in the
// configuration; it unwraps to the failure.
type positioned struct {
	msg string
	err error
}

func (e *positioned) Error() string { return e.msg }
func (e *positioned) Unwrap() error { return e.err }
