package render

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// renderChart renders ch like `helm template` (helm's action.Install with
// ClientOnly and a client dry run): it returns the release manifest, in
// helm's "---\n# Source: path\n" layout, and the hooks. It mirrors
// RunWithContext and renderResources of helm v3's pkg/action by hand,
// because pkg/action pulls kubectl, cli-runtime and most of client-go into
// the binary for the cluster operations a client-side render never makes.
// Hooks are returned whatever --no-hooks says; the caller drops them.
func renderChart(ctx context.Context, ch *chart.Chart, vals map[string]any, name, ns string, flags helmFlags) (string, []*release.Hook, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	// `helm template` checks these before it runs the install action.
	switch ch.Metadata.Type {
	case "", "application":
	default:
		return "", nil, fmt.Errorf("%s charts are not installable", ch.Metadata.Type)
	}
	if missing := missingDependencies(ch); len(missing) > 0 {
		return "", nil, fmt.Errorf("found in Chart.yaml, but missing in charts/ directory: %s; the chart is incomplete, run helm dependency build for it", strings.Join(missing, ", "))
	}

	if err := chartutil.ValidateReleaseName(name); err != nil {
		return "", nil, fmt.Errorf("release name %q: %w", name, err)
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return "", nil, err
	}

	caps := chartutil.DefaultCapabilities.Copy()
	if flags.kubeVersion != nil {
		caps.KubeVersion = *flags.kubeVersion
	}
	caps.APIVersions = append(caps.APIVersions, flags.apiVersions...)

	// --is-upgrade is honoured only on a dry run, which a render always is.
	options := chartutil.ReleaseOptions{
		Name:      name,
		Namespace: ns,
		Revision:  1,
		IsInstall: !flags.isUpgrade,
		IsUpgrade: flags.isUpgrade,
	}
	values, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals, options, caps, flags.skipSchemaValidation)
	if err != nil {
		return "", nil, err
	}

	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return "", nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}

	// The zero Engine has no cluster client: lookup returns empty
	// results, as in `helm template`.
	var e engine.Engine
	files, err := e.Render(ch, values)
	if err != nil {
		return "", nil, err
	}
	for k := range files {
		if strings.HasSuffix(k, "NOTES.txt") {
			delete(files, k) // notes are not part of the manifest
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return "", nil, err
	}

	var b bytes.Buffer
	if !flags.skipCRDs {
		for _, crd := range ch.CRDObjects() {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", crd.Filename, string(crd.File.Data))
		}
	}
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	return b.String(), hooks, nil
}

// missingDependencies returns the dependencies in Chart.yaml that ch does
// not have (helm's action.CheckDependencies).
func missingDependencies(ch *chart.Chart) []string {
	var missing []string
	for _, r := range ch.Metadata.Dependencies {
		if !hasDependency(ch, r.Name) {
			missing = append(missing, r.Name)
		}
	}
	return missing
}

func hasDependency(ch *chart.Chart, name string) bool {
	for _, d := range ch.Dependencies() {
		if d.Name() == name {
			return true
		}
	}
	return false
}
