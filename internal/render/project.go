package render

import (
	"fmt"

	"github.com/skiff-dev/skiff/internal/config"
)

// ProjectOptions are the render options p's configuration gives: every
// module's manifests (rawYaml, kustomize, helm, and deploy.helm releases,
// which skiff renders too), the images the project builds and the process
// environment for helm templates. The caller adds builds, namespace,
// labels, digest source, registry and scoper.
func ProjectOptions(p *config.Project) (Options, error) {
	opts := Options{Env: config.Environ()}
	for _, a := range p.Artifacts() {
		opts.ProjectImages = append(opts.ProjectImages, a.ImageName)
	}
	for _, c := range p.Configs {
		m := c.Render.Generate
		opts.RawYAML = append(opts.RawYAML, m.RawK8s...)
		if k := m.Kustomize; k != nil {
			for _, path := range k.Paths {
				opts.Kustomize = append(opts.Kustomize, KustomizeSource{Path: path, BuildArgs: k.BuildArgs})
			}
		}
		if h := m.Helm; h != nil {
			if err := addHelmReleases(&opts, h.Releases, append(append([]string{}, h.Flags.Global...), h.Flags.Template...)); err != nil {
				return opts, err
			}
		}
		if h := c.Deploy.LegacyHelmDeploy; h != nil {
			if err := addHelmReleases(&opts, h.Releases, h.Flags.Global); err != nil {
				return opts, err
			}
		}
	}
	return opts, nil
}

func addHelmReleases(opts *Options, releases []config.HelmRelease, flags []string) error {
	for _, r := range releases {
		overrides, err := decodeOverrides(r.Overrides)
		if err != nil {
			return fmt.Errorf("helm release %s: overrides: %v", r.Name, err)
		}
		opts.Helm = append(opts.Helm, HelmRelease{
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
