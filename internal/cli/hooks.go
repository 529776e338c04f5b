package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/dev"
	"github.com/skiff-dev/skiff/internal/hooks"
	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// This file wires the configuration's lifecycle hooks (internal/hooks)
// into build, render, deploy and dev.

// runID is SKAFFOLD_RUN_ID: one random id per skiff process, as Skaffold
// has one per run.
var runID = sync.OnceValue(func() string {
	return rand.Text()
})

// hookRunner is a hook runner writing to stderr, with the static
// variables of p; c, when set, runs container hooks.
func (s *session) hookRunner(p *config.Project, c *kube.Clients) *hooks.Runner {
	wd, _ := os.Getwd()
	r := &hooks.Runner{Out: s.streams.Err, Static: hooks.Static{DefaultRepo: s.flags.DefaultRepo, WorkDir: wd}}
	if p != nil {
		r.Static.Extra = p.EnvFile
	}
	if c != nil {
		r.Cluster = &hooks.Cluster{Config: c.Target.Config, Client: c.Core}
	}
	return r
}

// hookedBuilder runs an artifact's build hooks around its build.
type hookedBuilder struct {
	build.Builder
	runner *hooks.Runner
	p      *config.Project
	push   bool
}

// wrapBuildHooks is build.Options.Wrap for p's artifacts.
func (s *session) wrapBuildHooks(p *config.Project, push bool) func(build.Builder) build.Builder {
	r := s.hookRunner(p, nil)
	return func(b build.Builder) build.Builder { return &hookedBuilder{Builder: b, runner: r, p: p, push: push} }
}

func (h *hookedBuilder) Build(ctx context.Context, a *config.Artifact, ref name.Tag, deps map[string]string, emit func(build.Event)) (build.Built, error) {
	hk := a.LifecycleHooks
	if len(hk.PreHooks)+len(hk.PostHooks) == 0 {
		return h.Builder.Build(ctx, a, ref, deps, emit)
	}
	c, path := artifactField(h.p, a)
	ctxDir, _ := filepath.Abs(a.Workspace)
	env := hooks.BuildEnv{Image: ref.String(), PushImage: h.push, ImageRepo: artifact.Repository(ref.String()), ImageTag: ref.TagStr(), BuildContext: ctxDir}
	if err := h.runner.Build(ctx, c, path, hk, hooks.PreBuild, env); err != nil {
		return build.Built{}, err
	}
	built, err := h.Builder.Build(ctx, a, ref, deps, emit)
	if err != nil {
		return built, err
	}
	return built, h.runner.Build(ctx, c, path, hk, hooks.PostBuild, env)
}

// artifactField finds the config that defines a and the path of a's hooks.
func artifactField(p *config.Project, a *config.Artifact) (*config.Config, string) {
	for _, c := range p.Configs {
		if i := slices.Index(c.Build.Artifacts, a); i >= 0 {
			return c, fmt.Sprintf("build.artifacts[%d].hooks", i)
		}
	}
	return nil, "build.artifacts[" + a.ImageName + "].hooks"
}

// withRenderHooks runs every config's manifests.hooks around render.
func (s *session) withRenderHooks(ctx context.Context, p *config.Project, namespace string, render func() error) error {
	var any bool
	for _, c := range p.Configs {
		h := c.Render.LifecycleHooks
		any = any || len(h.PreHooks)+len(h.PostHooks) > 0
	}
	if !any {
		return render()
	}
	r := s.hookRunner(p, nil)
	env := hooks.RenderEnv{KubeContext: s.hookKubeContext(p), Namespaces: []string{s.hookNamespace(namespace)}}
	for _, c := range p.Configs {
		if err := r.Render(ctx, c, c.Render.LifecycleHooks, hooks.PreRender, env); err != nil {
			return err
		}
	}
	if err := render(); err != nil {
		return err
	}
	for _, c := range p.Configs {
		if err := r.Render(ctx, c, c.Render.LifecycleHooks, hooks.PostRender, env); err != nil {
			return err
		}
	}
	return nil
}

// hookKubeContext is the kube context the hooks are told about.
func (s *session) hookKubeContext(p *config.Project) string {
	fallback := ""
	if p != nil {
		fallback = p.DeploySettings().KubeContext
	}
	o := s.kubeOptions(fallback, nil)
	if o.Context == "" {
		o.Context = fallback
	}
	return kube.CurrentContext(o)
}

// hookNamespace is namespace, else the kube context's default one.
func (s *session) hookNamespace(namespace string) string {
	if namespace != "" {
		return namespace
	}
	if t, err := kube.Resolve(s.kubeOptions("", nil)); err == nil {
		return t.Namespace
	}
	return "default"
}

// deployHooks are p's deployers' hooks, with the path of each.
func deployHooks(p *config.Project) []deployHook {
	var out []deployHook
	for _, c := range p.Configs {
		if k := c.Deploy.KubectlDeploy; k != nil && !k.LifecycleHooks.Empty() {
			out = append(out, deployHook{c, "deploy.kubectl.hooks", k.LifecycleHooks})
		}
		if h := c.Deploy.LegacyHelmDeploy; h != nil && !h.LifecycleHooks.Empty() {
			out = append(out, deployHook{c, "deploy.helm.hooks", h.LifecycleHooks})
		}
	}
	return out
}

type deployHook struct {
	c     *config.Config
	path  string
	hooks config.DeployHooks
}

// runDeployHooks runs p's deploy hooks of phase with r, for objs applied
// to namespace in kubeContext. skiff applies every deployer's manifests in
// one server-side apply, so all the deployers' before hooks run before it
// and all their after hooks after it (Skaffold runs each deployer's around
// that deployer's own apply).
func runDeployHooks(ctx context.Context, r *hooks.Runner, p *config.Project, phase hooks.Phase, kubeContext, namespace string, objs []manifest.Object) error {
	dh := deployHooks(p)
	if len(dh) == 0 {
		return nil
	}
	env := hooks.DeployEnv{RunID: runID(), KubeContext: kubeContext, Namespaces: objectNamespaces(namespace, objs)}
	for _, d := range dh {
		if err := r.Deploy(ctx, d.c, d.path, d.hooks, phase, env); err != nil {
			return err
		}
	}
	return nil
}

// objectNamespaces are the namespaces objs are in, namespace first.
func objectNamespaces(namespace string, objs []manifest.Object) []string {
	out := []string{namespace}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// devHooks runs deploy and sync hooks in a dev session, with one runner
// so that deploy container hooks reach each container once per phase.
type devHooks struct {
	runner                 *hooks.Runner
	project                func() *config.Project
	kubeContext, namespace string
}

// hookedDeployer runs the deploy hooks around each dev deploy.
type hookedDeployer struct {
	dev.Deployer
	hooks *devHooks
}

func (d *hookedDeployer) Deploy(ctx context.Context, objs []manifest.Object) ([]apply.Change, error) {
	h := d.hooks
	if err := runDeployHooks(ctx, h.runner, h.project(), hooks.PreDeploy, h.kubeContext, h.namespace, objs); err != nil {
		return nil, err
	}
	changes, err := d.Deployer.Deploy(ctx, objs)
	if err != nil {
		return changes, err
	}
	return changes, runDeployHooks(ctx, h.runner, h.project(), hooks.PostDeploy, h.kubeContext, h.namespace, objs)
}

// sync is dev.Runner.SyncHooks: the synced artifact's sync.hooks.
func (h *devHooks) sync(ctx context.Context, before bool, sp dev.SyncPlan, ref string) error {
	p := h.project()
	for _, c := range p.Configs {
		for i, a := range c.Build.Artifacts {
			if a.ImageName != sp.Image || a.Sync == nil {
				continue
			}
			hk := a.Sync.LifecycleHooks
			if len(hk.PreHooks)+len(hk.PostHooks) == 0 {
				return nil
			}
			ctxDir, _ := filepath.Abs(a.Workspace)
			env := hooks.SyncEnv{Image: ref, BuildContext: ctxDir, KubeContext: h.kubeContext, Namespaces: []string{h.namespace}}
			for _, f := range sp.Copy {
				env.FilesAddedOrModified = append(env.FilesAddedOrModified, f.Local)
			}
			env.FilesDeleted = sp.Removed
			phase := hooks.PostSync
			if before {
				phase = hooks.PreSync
			}
			return h.runner.Sync(ctx, c, fmt.Sprintf("build.artifacts[%d].sync.hooks", i), hk, phase, a.ImageName, ref, env)
		}
	}
	return nil
}
