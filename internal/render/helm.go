package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/oci"
)

// HelmRelease is one release of manifests.helm.releases, rendered
// client-side like `helm template`. Templates in Name and Namespace are
// expanded by the config loader; setValueTemplates and valuesFiles are
// expanded here, because they see the builds.
type HelmRelease struct {
	Name        string
	ChartPath   string // a local chart directory or .tgz
	RemoteChart string // oci://host/repo/chart, repo/chart, or a chart in Repo
	Repo        string // a chart repository URL for RemoteChart
	Version     string // chart version or semver constraint (remote charts)
	Namespace   string // the release namespace; -n overrides it

	ValuesFiles       []string
	SetValues         map[string]string
	SetValueTemplates map[string]string
	SetFiles          map[string]string
	Overrides         map[string]any

	CreateNamespace       bool
	SkipBuildDependencies bool
	SkipTests             bool

	// Flags are manifests.helm.flags global and template flags.
	Flags []string

	// Not supported; set so that they are rejected by name, not ignored.
	UseHelmSecrets bool
	Packaged       bool
}

type helmContext struct {
	builds    []artifact.Build
	env       map[string]string
	namespace string // -n: overrides the release's namespace
	registry  *oci.Client
}

// renderHelm renders one release and returns its objects and warnings.
func renderHelm(ctx context.Context, rel HelmRelease, hc helmContext) ([]item, []string, error) {
	where := "helm release " + rel.Name
	type rendered struct {
		items    []item
		warnings []string
	}
	r, logged, err := captureStdLog(func() (rendered, error) {
		items, warnings, err := renderHelmRelease(ctx, rel, hc)
		return rendered{items, warnings}, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", where, err)
	}
	for _, l := range logged {
		r.warnings = append(r.warnings, where+": "+l)
	}
	return r.items, r.warnings, nil
}

func renderHelmRelease(ctx context.Context, rel HelmRelease, hc helmContext) ([]item, []string, error) {
	switch {
	case rel.Name == "":
		return nil, nil, errors.New("name is empty")
	case rel.UseHelmSecrets:
		return nil, nil, errors.New("useHelmSecrets is not supported (it needs the helm-secrets plugin); decrypt the values in the pipeline and pass them in valuesFiles")
	case rel.Packaged:
		return nil, nil, errors.New("packaged is not supported; render the chart directory")
	case rel.ChartPath == "" && rel.RemoteChart == "":
		return nil, nil, errors.New("set chartPath or remoteChart")
	case rel.ChartPath != "" && rel.RemoteChart != "":
		return nil, nil, errors.New("set only one of chartPath and remoteChart")
	}
	flags, err := parseHelmFlags(rel.Flags)
	if err != nil {
		return nil, nil, err
	}
	ns := rel.Namespace
	if hc.namespace != "" {
		ns = hc.namespace
	}

	data := map[string]string{}
	for k, v := range hc.env {
		data[k] = v
	}
	for k, v := range ImageTemplateVars(hc.builds) {
		data[k] = v
	}
	vals, err := helmValues(rel, data, hc.builds)
	if err != nil {
		return nil, nil, err
	}

	ch, warnings, err := loadChart(ctx, rel, flags, hc.registry)
	if err != nil {
		return nil, nil, err
	}

	releaseNS := ns
	if releaseNS == "" {
		releaseNS = "default" // what `helm template` shows as .Release.Namespace
	}
	manifestText, hooks, err := renderChart(ctx, ch, vals, rel.Name, releaseNS, flags)
	if err != nil {
		return nil, nil, fmt.Errorf("rendering chart %s: %s", ch.Name(), oneLine(err.Error()))
	}

	objs, err := parseHelmManifest(manifestText, ch.Name())
	if err != nil {
		return nil, nil, err
	}
	if !flags.noHooks {
		sort.SliceStable(hooks, func(i, j int) bool { return hooks[i].Path < hooks[j].Path })
		for _, h := range hooks {
			if (rel.SkipTests || flags.skipTests) && isTestHook(h) {
				continue
			}
			hobjs, err := manifest.Parse([]byte(h.Manifest), h.Path)
			if err != nil {
				return nil, nil, fmt.Errorf("rendering chart %s: %w", ch.Name(), err)
			}
			for i := range hobjs {
				hobjs[i].Origin = manifest.Origin{File: h.Path}
			}
			objs = append(objs, hobjs...)
		}
	}

	source := "helm release " + rel.Name
	items := make([]item, 0, len(objs)+1)
	for _, o := range objs {
		items = append(items, item{obj: o, source: source, defaultNS: ns})
	}
	if rel.CreateNamespace && ns != "" {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
		}}
		items = append(items, item{obj: manifest.Object{Unstructured: u}, source: source + " (createNamespace)", generated: true})
	}
	return items, warnings, nil
}

func isTestHook(h *release.Hook) bool {
	for _, e := range h.Events {
		if e == release.HookTest {
			return true
		}
	}
	return false
}

// parseHelmManifest parses a release manifest and gives each object the
// chart template it came from (helm writes "# Source: path" before each).
func parseHelmManifest(text, chartName string) ([]manifest.Object, error) {
	type mark struct {
		line int
		path string
	}
	var marks []mark
	for i, l := range strings.Split(text, "\n") {
		if p, ok := strings.CutPrefix(l, "# Source: "); ok {
			marks = append(marks, mark{i + 1, strings.TrimSpace(p)})
		}
	}
	objs, err := manifest.Parse([]byte(text), "chart "+chartName)
	if err != nil {
		return nil, fmt.Errorf("rendering chart %s: %w", chartName, err)
	}
	for i := range objs {
		file := chartName
		for _, m := range marks {
			if m.line <= objs[i].Origin.Line {
				file = m.path
			}
		}
		objs[i].Origin = manifest.Origin{File: file}
	}
	return objs, nil
}

// loadChart loads a local chart, or fetches a remote one.
func loadChart(ctx context.Context, rel HelmRelease, flags helmFlags, registry *oci.Client) (*chart.Chart, []string, error) {
	var warnings []string
	if rel.RemoteChart != "" {
		ch, err := loadRemoteChart(ctx, rel, flags, registry)
		return ch, nil, err
	}
	if _, err := os.Stat(rel.ChartPath); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("chartPath %s: no such chart directory or archive; fix manifests.helm.releases[].chartPath", rel.ChartPath)
	}
	ch, err := loader.Load(rel.ChartPath)
	if err != nil {
		return nil, nil, fmt.Errorf("loading chart %s: %s", rel.ChartPath, oneLine(err.Error()))
	}
	if err := buildDependencies(ctx, ch, rel, flags, registry); err != nil {
		return nil, nil, err
	}
	if rel.ChartPath != "" && rel.Version != "" {
		// `helm template --version` ignores the version for a local chart;
		// say so when it does not match rather than pretend.
		if c, err := semver.NewConstraint(rel.Version); err == nil {
			if v, err := semver.NewVersion(ch.Metadata.Version); err == nil && !c.Check(v) {
				warnings = append(warnings, fmt.Sprintf("helm release %s: version %s does not match chart %s version %s; local charts are rendered as they are",
					rel.Name, rel.Version, rel.ChartPath, ch.Metadata.Version))
			}
		}
	}
	if ch.Metadata.Deprecated {
		warnings = append(warnings, fmt.Sprintf("helm release %s: chart %s is deprecated", rel.Name, ch.Name()))
	}
	return ch, warnings, nil
}
