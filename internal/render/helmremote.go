package render

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
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
	opts := action.ChartPathOptions{RepoURL: rel.Repo, Version: version, InsecureSkipTLSverify: flags.insecureSkipTLS, PlainHTTP: flags.plainHTTP}
	path, err := opts.LocateChart(rel.RemoteChart, cli.New())
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: %s", rel.RemoteChart, oneLine(err.Error()))
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: %s", rel.RemoteChart, oneLine(err.Error()))
	}
	return ch, nil
}

// chartLayerMediaType is the layer of a Helm chart stored in an OCI registry.
const chartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// loadOCIChart pulls the chart remote (oci://registry/repo/name) at version
// (a version, a constraint, or empty for the highest).
func loadOCIChart(ctx context.Context, registry *oci.Client, remote, version string) (*chart.Chart, error) {
	repo := strings.TrimPrefix(remote, "oci://")
	tag, err := ociTag(ctx, registry, repo, version)
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: %w", remote, err)
	}
	data, err := chartArchive(ctx, registry, repo+":"+tag)
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: pulling %s: %s", remote, tag, oneLine(err.Error()))
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: %s", remote, oneLine(err.Error()))
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
