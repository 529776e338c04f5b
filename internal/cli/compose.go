package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/render"
)

// This file is the composition point: the one place where a verb's
// dependencies — the configuration, the registry client, git and CI facts,
// the clusters — are made from the global flags and the configuration, and
// handed to the engines' workflows.

// hasConfig reports whether a configuration is there to load: -f, or a
// default file in the working directory. Some commands work without one.
func (s *session) hasConfig() bool {
	if s.flags.Filename != "" {
		return true
	}
	for _, name := range config.DefaultFilenames {
		if _, err := os.Stat(name); err == nil {
			return true
		}
	}
	return false
}

// loadOptions are the configuration's load options: the global flags, with
// extra profiles (an environment's) after the -p ones.
func (s *session) loadOptions(extraProfiles []string) config.LoadOptions {
	return config.LoadOptions{
		Filename: s.flags.Filename,
		Profiles: append(slices.Clone(s.flags.Profiles), extraProfiles...),
		Modules:  s.flags.Modules,
		Activation: config.ActivationContext{
			Command:     s.verb,
			KubeContext: kube.CurrentContext(kube.Options{Kubeconfig: s.flags.Kubeconfig, Context: s.flags.KubeContext}),
		},
	}
}

// project loads the configuration the global flags name and prints its
// load warnings on stderr.
func (s *session) project() (*config.Project, error) {
	p, err := config.Load(s.loadOptions(nil))
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		s.warn("%s", w)
	}
	return p, nil
}

// optionalProject is the configuration when there is one, else nil.
func (s *session) optionalProject() (*config.Project, error) {
	if !s.hasConfig() {
		return nil, nil
	}
	return s.project()
}

// environment returns environment name of p and the project with the
// environment's profiles activated after the -p ones: p itself when it has
// none, else the configuration loaded again with them (quietly: p's load
// printed the warnings).
func (s *session) environment(p *config.Project, name string) (*config.Project, *config.Environment, error) {
	e, err := p.Environment(name)
	if err != nil {
		return nil, nil, err
	}
	if len(e.Profiles) == 0 {
		return p, e, nil
	}
	if p, err = config.Load(s.loadOptions(e.Profiles)); err != nil {
		return nil, nil, err
	}
	e, err = p.Environment(name)
	return p, e, err
}

// appName is the application: --app, else the configuration's name, else
// the working directory's.
func appName(p *config.Project, flag string) (string, error) {
	switch {
	case flag != "":
		return flag, nil
	case p != nil:
		return p.Name(), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return (&config.Project{WorkDir: wd}).Name(), nil
}

// CertsDirEnv overrides oci.DefaultCertsDir (/etc/docker/certs.d), so that
// tests and unprivileged users can give per-registry certificates without
// writing /etc.
const CertsDirEnv = "SKIFF_REGISTRY_CERTS_DIR"

// registry is the invocation's registry client: the registries the flags
// and, when there is one, the configuration list as insecure; the CAs of
// --registry-ca and the certs directory; credentials from the Docker
// configuration, else the CI job's.
func (s *session) registry(p *config.Project) *oci.Client {
	insecure := slices.Clone(s.flags.InsecureRegistries)
	if p != nil {
		insecure = append(insecure, p.InsecureRegistries()...)
	}
	return oci.New(oci.Options{
		Insecure: insecure, UserAgent: "skiff/" + version,
		RegistryCAs: s.flags.registryCAs, CertsDir: os.Getenv(CertsDirEnv),
		Keychain: oci.Keychain(os.Getenv),
	})
}

// facts are the git and CI facts of the project: from the directory of the
// configuration file (-f), else the working directory.
func (s *session) facts(p *config.Project) *gitinfo.Facts {
	dir := "."
	if p != nil {
		dir = projectDir(p)
	}
	return gitinfo.Detect(dir, config.Environ())
}

// projectDir is the directory of p's configuration file.
func projectDir(p *config.Project) string {
	file := p.File
	if !filepath.IsAbs(file) {
		file = filepath.Join(p.WorkDir, file)
	}
	return filepath.Dir(file)
}

// kubeOptions name the cluster: the flags, with fallbackContext (the
// configuration's) when --kube-context is not given, as the environment's
// deployer when e impersonates one.
func (s *session) kubeOptions(fallbackContext string, e *config.Environment) kube.Options {
	o := kube.Options{
		Kubeconfig: s.flags.Kubeconfig, Context: s.flags.KubeContext, FallbackContext: fallbackContext,
		Namespace: s.flags.Namespace, UserAgent: "skiff/" + version,
	}
	if e != nil {
		o.FallbackContext, o.As, o.AsGroups = e.KubeContext, e.As, e.AsGroups
	}
	return o
}

// connect resolves and connects to the cluster of kubeOptions.
func (s *session) connect(fallbackContext string, e *config.Environment) (*kube.Clients, error) {
	t, err := kube.Resolve(s.kubeOptions(fallbackContext, e))
	if err != nil {
		return nil, err
	}
	return kube.Connect(t)
}

// environments connects to environments' clusters, once per cluster and
// identity (nil: the default cluster, no impersonation).
func (s *session) environments() func(*config.Environment) (*kube.Clients, error) {
	pool := &kube.Pool{}
	return func(e *config.Environment) (*kube.Clients, error) {
		return pool.Connect(s.kubeOptions("", e))
	}
}

// releaseRef is the full reference of a release given as a tag of the
// project's release repository, or as a full reference.
func (s *session) releaseRef(p *config.Project, app, ref string) (string, error) {
	if strings.Contains(ref, "/") {
		return ref, nil
	}
	repo, err := s.releaseRepo(p, app)
	if err != nil {
		return "", err
	}
	return repo + ":" + ref, nil
}

// releaseRepo is where app's releases live.
func (s *session) releaseRepo(p *config.Project, app string) (string, error) {
	configured := ""
	if p != nil && p.Skiff != nil && p.Skiff.Release != nil {
		configured = p.Skiff.Release.Repository
	}
	return release.Repository(configured, s.flags.DefaultRepo, app)
}

// releaseInfo is who and what is being released, for release records.
func releaseInfo(f *gitinfo.Facts) apply.ReleaseInfo {
	return apply.ReleaseInfo{Actor: f.User, Commit: f.Commit(), Tag: f.Tag()}
}

// renderRequest is what a render needs beyond the configuration.
type renderRequest struct {
	builds       []artifact.Build
	digestSource render.DigestSource
	labels       map[string]string
	namespace    string
	// offline renders without asking a cluster about unknown kinds.
	offline bool
	// scoper, when set, tells namespaced kinds from cluster-scoped ones.
	scoper render.Scoper
}

// renderOptions are the render options of p and r, with reg.
func (s *session) renderOptions(p *config.Project, reg *oci.Client, r renderRequest) (render.Options, error) {
	opts, err := render.ProjectOptions(p)
	if err != nil {
		return opts, err
	}
	opts.Builds, opts.DigestSource, opts.Labels, opts.Namespace = r.builds, r.digestSource, r.labels, r.namespace
	opts.Registry, opts.Scoper = reg, r.scoper
	if opts.Scoper == nil && opts.Namespace != "" && !r.offline {
		opts.Scoper = s.clusterScoper()
	}
	return opts, nil
}

// render renders p's manifests with reg and prints what the caller should
// know on stderr.
func (s *session) render(ctx context.Context, p *config.Project, reg *oci.Client, r renderRequest) (*render.Result, error) {
	opts, err := s.renderOptions(p, reg, r)
	if err != nil {
		return nil, err
	}
	var res *render.Result
	err = s.withRenderHooks(ctx, p, r.namespace, func() (err error) {
		res, err = render.Render(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.reportRender(res)
	return res, nil
}

// renderInto is a render of p into a namespace, for the workflows (env
// deploy, release create), offline.
func (s *session) renderInto(p *config.Project, reg *oci.Client, builds []artifact.Build, ds render.DigestSource) func(ctx context.Context, namespace string) ([]manifest.Object, error) {
	return func(ctx context.Context, namespace string) ([]manifest.Object, error) {
		res, err := s.render(ctx, p, reg, renderRequest{builds: builds, digestSource: ds, namespace: namespace, offline: true})
		if err != nil {
			return nil, err
		}
		return res.Objects, nil
	}
}

// clusterScoper asks the cluster about kinds render does not know, lazily:
// nothing contacts the cluster unless the manifests hold such a kind.
func (s *session) clusterScoper() render.Scoper {
	t, err := kube.Resolve(s.kubeOptions("", nil))
	if err != nil {
		s.log().Info("no cluster for kind lookups; rendering offline", "reason", err)
		return nil
	}
	cfg := *t.Config
	cfg.Timeout = 10 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(&cfg)
	if err != nil {
		return nil
	}
	return render.RESTMapperScoper{Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// reportRender prints a render's warnings and, at info level, what it did
// to images.
func (s *session) reportRender(res *render.Result) {
	for _, w := range res.Warnings {
		s.warn("%s", w)
	}
	for _, name := range res.Images.UnusedBuilds {
		s.warn("image %s has a build but no manifest uses it", name)
	}
	log := s.log()
	for _, u := range res.Images.Replaced {
		log.Info("image pinned", "object", u.Object, "container", u.Container, "image", u.Pinned)
	}
	for _, u := range res.Images.KeptDigest {
		log.Info("image already pinned by digest; kept", "object", u.Object, "container", u.Container, "image", u.Image)
	}
	for _, u := range res.Images.External {
		log.Info("image not built by this project; kept", "object", u.Object, "container", u.Container, "image", u.Image)
	}
}
