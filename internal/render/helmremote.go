package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	helmregistry "helm.sh/helm/v3/pkg/registry"

	"github.com/skiff-dev/skiff/internal/oci"
)

// helmFlags are the helm flags (manifests.helm.flags) skiff honours.
type helmFlags struct {
	skipCRDs, skipTests, noHooks, isUpgrade bool
	skipSchemaValidation, dependencyUpdate  bool
	devel, plainHTTP, insecureSkipTLS       bool
	kubeVersion                             *chartutil.KubeVersion
	apiVersions                             []string
}

const supportedHelmFlags = "--skip-crds, --include-crds, --skip-tests, --no-hooks, --kube-version, --api-versions, --is-upgrade, --skip-schema-validation, --dependency-update, --devel, --plain-http, --insecure-skip-tls-verify, --debug, --kube-context, --kubeconfig"

func parseHelmFlags(args []string) (helmFlags, error) {
	var f helmFlags
	fs := pflag.NewFlagSet("helm template", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&f.skipCRDs, "skip-crds", false, "")
	includeCRDs := fs.Bool("include-crds", true, "")
	fs.BoolVar(&f.skipTests, "skip-tests", false, "")
	fs.BoolVar(&f.noHooks, "no-hooks", false, "")
	kubeVersion := fs.String("kube-version", "", "")
	fs.StringSliceVarP(&f.apiVersions, "api-versions", "a", nil, "")
	fs.BoolVar(&f.isUpgrade, "is-upgrade", false, "")
	fs.BoolVar(&f.skipSchemaValidation, "skip-schema-validation", false, "")
	fs.BoolVar(&f.dependencyUpdate, "dependency-update", false, "")
	fs.BoolVar(&f.devel, "devel", false, "")
	fs.BoolVar(&f.plainHTTP, "plain-http", false, "")
	fs.BoolVar(&f.insecureSkipTLS, "insecure-skip-tls-verify", false, "")
	// No effect on a client-side render, accepted so shared flags work.
	fs.Bool("debug", false, "")
	fs.String("kube-context", "", "")
	fs.String("kubeconfig", "", "")
	if err := fs.Parse(args); err != nil {
		return f, fmt.Errorf("flags: %v; skiff supports %s", err, supportedHelmFlags)
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("flags: unexpected argument %q", fs.Arg(0))
	}
	if !*includeCRDs {
		f.skipCRDs = true
	}
	if *kubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(*kubeVersion)
		if err != nil {
			return f, fmt.Errorf("flags: --kube-version %q: %v", *kubeVersion, err)
		}
		f.kubeVersion = kv
	}
	return f, nil
}

// loadRemoteChart fetches remoteChart: from an OCI registry through
// skiff's registry client, or from a chart repository (repo, or an alias in
// helm's repositories.yaml).
func loadRemoteChart(ctx context.Context, rel HelmRelease, flags helmFlags, registry *oci.Client) (*chart.Chart, error) {
	if registry == nil {
		registry = oci.New(oci.Options{})
	}
	version := rel.Version
	if version == "" && flags.devel {
		version = ">0.0.0-0"
	}
	if helmregistry.IsOCI(rel.RemoteChart) {
		if flags.plainHTTP || flags.insecureSkipTLS {
			// The release's own helm flags list its registry as insecure.
			registry = registry.WithInsecure(ociHost(rel.RemoteChart))
		}
		return loadOCIChart(ctx, registry, rel.RemoteChart, version)
	}
	ch, err := locateRepoChart(ctx, strings.TrimSpace(rel.RemoteChart), strings.TrimSpace(rel.Repo), strings.TrimSpace(version), flags)
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: %w", rel.RemoteChart, err)
	}
	return ch, nil
}

// locateRepoChart finds name the way `helm template NAME [--repo URL]`
// does (helm's ChartPathOptions.LocateChart): a local chart, a chart in
// the repository at repoURL, a chart archive's URL, or repo/chart for a
// repository in helm's repositories.yaml.
func locateRepoChart(ctx context.Context, name, repoURL, version string, flags helmFlags) (*chart.Chart, error) {
	if _, err := os.Stat(name); err == nil {
		ch, err := loader.Load(name)
		if err != nil {
			return nil, errors.New(oneLine(err.Error()))
		}
		return ch, nil
	}
	if filepath.IsAbs(name) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("path %q not found; fix remoteChart, or use chartPath for a local chart", name)
	}
	repos, err := loadHelmRepoFile()
	if err != nil {
		return nil, err
	}
	if repoURL != "" {
		r, err := repos.repoByURL(repoURL, flags.insecureSkipTLS)
		if err != nil {
			return nil, fmt.Errorf("repo: %w", err)
		}
		// helm reads the index of a --repo afresh, never from its cache.
		ch, err := r.findChart(ctx, name, version, true)
		if err != nil {
			return nil, fmt.Errorf("in repository %s: %w", r.url, err)
		}
		return ch, nil
	}
	if u, err := url.Parse(name); err == nil && u.IsAbs() && u.Host != "" && u.Path != "" {
		// A chart archive's URL: the settings of the repository it is in.
		entry, _ := repos.byURLPrefix(name)
		r, err := repos.repo(name, entry, flags.insecureSkipTLS)
		if err != nil {
			return nil, err
		}
		if entry.URL != "" {
			r.url = redactURL(entry.URL) // credentials go to the repository's host
		}
		return r.fetchChart(ctx, redactURL(name), "")
	}
	repoName, chartName, ok := strings.Cut(name, "/")
	if !ok || chartName == "" {
		return nil, fmt.Errorf("want oci://registry/repository/chart, repo/chart for a repository added with helm repo add, or a chart name with repo set")
	}
	r, err := repos.repoByName(repoName, flags.insecureSkipTLS)
	if err != nil {
		return nil, err
	}
	ch, err := r.findChart(ctx, chartName, version, false)
	if err != nil {
		return nil, fmt.Errorf("in repository %s (%s): %w", repoName, r.url, err)
	}
	return ch, nil
}

// chartLayerMediaType is the layer of a Helm chart stored in an OCI registry.
const chartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// loadOCIChart pulls the chart remote (oci://registry/repo/name) at version
// (a version, a constraint, or empty for the highest).
func loadOCIChart(ctx context.Context, registry *oci.Client, remote, version string) (*chart.Chart, error) {
	ch, err := pullOCIChart(ctx, registry, remote, version)
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: %w", remote, err)
	}
	return ch, nil
}

func pullOCIChart(ctx context.Context, registry *oci.Client, remote, version string) (*chart.Chart, error) {
	repo := strings.TrimPrefix(remote, "oci://")
	tag, err := ociTag(ctx, registry, repo, version)
	if err != nil {
		return nil, err
	}
	data, err := chartArchive(ctx, registry, repo+":"+tag)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %s", tag, oneLine(err.Error()))
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	return ch, nil
}

// chartArchive reads the chart layer (a .tgz) of the OCI artifact at ref.
func chartArchive(ctx context.Context, registry *oci.Client, ref string) ([]byte, error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, err := registry.Image(ctx, r)
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if l.MediaType != chartLayerMediaType {
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	return nil, fmt.Errorf("%s is not a Helm chart (no layer of type %s)", ref, chartLayerMediaType)
}

// ociTag picks the tag for version: the version itself, or the highest tag
// satisfying a constraint (all of them when version is empty). Helm writes
// a version's "+" as "_" in tags.
func ociTag(ctx context.Context, registry *oci.Client, repo, version string) (string, error) {
	if version != "" {
		if _, err := semver.StrictNewVersion(strings.TrimPrefix(version, "v")); err == nil {
			return strings.ReplaceAll(version, "+", "_"), nil
		}
	}
	constraint := version
	if constraint == "" {
		constraint = ">0.0.0"
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return "", fmt.Errorf("version %q is neither a version nor a constraint: %v", version, err)
	}
	r, err := registry.ParseRepository(repo)
	if err != nil {
		return "", err
	}
	tags, err := registry.ListTags(ctx, r)
	if err != nil {
		return "", fmt.Errorf("listing versions: %s", oneLine(err.Error()))
	}
	type tagged struct {
		tag string
		v   *semver.Version
	}
	var versions []tagged
	for _, t := range tags {
		if v, err := semver.NewVersion(strings.ReplaceAll(t, "_", "+")); err == nil {
			versions = append(versions, tagged{t, v})
		}
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i].v.GreaterThan(versions[j].v) })
	for _, v := range versions {
		if c.Check(v.v) {
			return v.tag, nil
		}
	}
	return "", fmt.Errorf("no version matches %q (have %s)", constraint, strings.Join(tags, ", "))
}

func ociHost(remote string) string {
	host, _, _ := strings.Cut(strings.TrimPrefix(remote, "oci://"), "/")
	return host
}
