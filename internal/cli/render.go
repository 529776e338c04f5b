package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/render"
)

// renderFlags are skaffold render's flags, with Skaffold's names.
type renderFlags struct {
	BuildArtifacts string
	Images         []string
	Output         string
	Offline        bool
	Labels         []string
	DigestSource   string
}

func (f *renderFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.BuildArtifacts, "build-artifacts", "a", "", "artifacts file written by skiff build --file-output (or skaffold build); - reads standard input")
	fl.StringSliceVarP(&f.Images, "images", "i", nil, "pre-built images as NAME=REF, or a bare REF naming itself (repeatable; wins over -a)")
	fl.StringVarP(&f.Output, "output", "o", "", "write the manifests to this file instead of standard output")
	fl.BoolVar(&f.Offline, "offline", false, "never contact a cluster: kinds neither built in nor defined by a CRD in the manifests are assumed namespaced")
	fl.StringSliceVarP(&f.Labels, "label", "l", nil, "add a label KEY=VALUE to every object's metadata (repeatable; never to pod templates)")
	fl.StringVar(&f.DigestSource, "digest-source", "", "where image references come from: tag (the builds' references as given; the default), remote (pin tags without a digest to the registry's digest), none (leave the manifests' references as written)")
}

func newRenderCmd(g *globalOptions) *cobra.Command {
	f := &renderFlags{}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Render hydrated manifests with images pinned by digest",
		Long: "Render the configuration's manifests (rawYaml, kustomize, helm) in-process, replace the\n" +
			"images the project builds with the references in the artifacts file, set the namespace\n" +
			"of namespaced objects that have none, and write one deterministic YAML stream.",
		Example: "  skiff render -p production -n myapp -a pipeline-artifacts.json -o myapp-1.0.0-production.yaml\n" +
			"  skiff build -q | skiff render -a - --offline",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.runRender(cmd, f)
		},
	}
	f.add(cmd)
	return cmd
}

func (g *globalOptions) runRender(cmd *cobra.Command, f *renderFlags) error {
	ctx := cmd.Context()
	opts, err := g.renderOptions(cmd, f)
	if err != nil {
		return err
	}
	res, err := render.Render(ctx, opts)
	if err != nil {
		return err
	}
	g.reportRender(res)
	var buf bytes.Buffer
	if err := res.Encode(&buf); err != nil {
		return fmt.Errorf("encoding the manifests: %w", err)
	}
	if f.Output == "" {
		_, err := g.streams.Out.Write(buf.Bytes())
		return err
	}
	return writeFileAtomic(f.Output, buf.Bytes())
}

// renderOptions loads the configuration and maps it, with the flags, to
// the engine's options.
func (g *globalOptions) renderOptions(cmd *cobra.Command, f *renderFlags) (render.Options, error) {
	if err := checkDigestSource(f.DigestSource); err != nil {
		return render.Options{}, err
	}
	p, err := g.loadProject(cmd)
	if err != nil {
		return render.Options{}, err
	}
	return g.renderOptionsFor(p, f)
}

// renderOptionsFor maps an already loaded configuration and the flags to
// the engine's options (deploy and run load the configuration themselves).
func (g *globalOptions) renderOptionsFor(p *config.Project, f *renderFlags) (render.Options, error) {
	var opts render.Options
	if err := checkDigestSource(f.DigestSource); err != nil {
		return opts, err
	}
	opts.DigestSource = render.DigestSource(f.DigestSource)
	labels, err := parseLabels(f.Labels)
	if err != nil {
		return opts, err
	}
	opts.Labels = labels
	if opts.Builds, err = g.readBuilds(f); err != nil {
		return opts, err
	}
	if err := addProjectSources(&opts, p); err != nil {
		return opts, err
	}
	opts.Env = config.Environ()
	opts.Namespace = g.Namespace
	opts.Registry = g.registry(p)
	if opts.Namespace != "" && !f.Offline {
		opts.Scoper = g.clusterScoper()
	}
	return opts, nil
}

func checkDigestSource(ds string) error {
	switch render.DigestSource(ds) {
	case "", render.DigestTag, render.DigestNone, render.DigestRemote:
		return nil
	case "local":
		return usageError("--digest-source=local builds images, which render does not: run skiff build --file-output=FILE and pass -a FILE")
	}
	return usageError("--digest-source %q: use tag, remote or none", ds)
}

// readBuilds reads -a, then -i, which wins for the same image name.
func (g *globalOptions) readBuilds(f *renderFlags) ([]artifact.Build, error) {
	var file *artifact.File
	if f.BuildArtifacts != "" {
		var err error
		if file, err = artifact.ReadFile(f.BuildArtifacts, g.streams.In); err != nil {
			return nil, err
		}
	}
	images, err := artifact.ParseImages(f.Images)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return file.Merge(images).Builds, nil
}

// addProjectSources adds every module's manifests (and deploy.helm
// releases, which skiff renders too) and the images the project builds.
func addProjectSources(opts *render.Options, p *config.Project) error {
	for _, a := range p.Artifacts() {
		opts.ProjectImages = append(opts.ProjectImages, a.ImageName)
	}
	for _, c := range p.Configs {
		m := c.Render.Generate
		opts.RawYAML = append(opts.RawYAML, m.RawK8s...)
		if k := m.Kustomize; k != nil {
			for _, path := range k.Paths {
				opts.Kustomize = append(opts.Kustomize, render.KustomizeSource{Path: path, BuildArgs: k.BuildArgs})
			}
		}
		if h := m.Helm; h != nil {
			if err := addHelmReleases(opts, h.Releases, append(append([]string{}, h.Flags.Global...), h.Flags.Template...)); err != nil {
				return err
			}
		}
		if h := c.Deploy.LegacyHelmDeploy; h != nil {
			if err := addHelmReleases(opts, h.Releases, h.Flags.Global); err != nil {
				return err
			}
		}
	}
	return nil
}

func addHelmReleases(opts *render.Options, releases []config.HelmRelease, flags []string) error {
	for _, r := range releases {
		overrides, err := decodeOverrides(r.Overrides)
		if err != nil {
			return fmt.Errorf("helm release %s: overrides: %v", r.Name, err)
		}
		opts.Helm = append(opts.Helm, render.HelmRelease{
			Name:                  r.Name,
			ChartPath:             r.ChartPath,
			RemoteChart:           r.RemoteChart,
			Repo:                  r.Repo,
			Version:               r.Version,
			Namespace:             r.Namespace,
			ValuesFiles:           r.ValuesFiles,
			SetValues:             r.SetValues,
			SetValueTemplates:     r.SetValueTemplates,
			SetFiles:              r.SetFiles,
			Overrides:             overrides,
			CreateNamespace:       r.CreateNamespace != nil && *r.CreateNamespace,
			SkipBuildDependencies: r.SkipBuildDependencies,
			SkipTests:             r.SkipTests,
			Flags:                 flags,
			UseHelmSecrets:        r.UseHelmSecrets,
			Packaged:              !r.Packaged.IsZero(),
		})
	}
	return nil
}

func decodeOverrides(n config.Any) (map[string]any, error) {
	if n.IsZero() {
		return nil, nil
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// clusterScoper asks the cluster about kinds render does not know, lazily:
// nothing contacts the cluster unless the manifests hold such a kind.
func (g *globalOptions) clusterScoper() render.Scoper {
	target, err := g.kube("")
	if err != nil {
		g.Logger().Info("no cluster for kind lookups; rendering offline", "reason", err)
		return nil
	}
	cfg := *target.Config
	cfg.Timeout = 10 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(&cfg)
	if err != nil {
		return nil
	}
	return render.RESTMapperScoper{Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// reportRender prints what the caller should know on stderr.
func (g *globalOptions) reportRender(res *render.Result) {
	for _, w := range res.Warnings {
		g.warn("%s", w)
	}
	for _, name := range res.Images.UnusedBuilds {
		g.warn("image %s has a build but no manifest uses it", name)
	}
	log := g.Logger()
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

// parseLabels turns -l KEY=VALUE values into a map.
func parseLabels(values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	labels := map[string]string{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, usageError("--label %q: use KEY=VALUE", v)
		}
		labels[k] = val
	}
	return labels, nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so a failed render never leaves a truncated file behind.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
