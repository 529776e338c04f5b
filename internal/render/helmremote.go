package render

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
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

// loadRemoteChart fetches remoteChart: from an OCI registry in-process,
// or from a chart repository (repo, or an alias in helm's repositories.yaml).
func loadRemoteChart(_ context.Context, rel HelmRelease, flags helmFlags, insecure []string) (*chart.Chart, error) {
	version := rel.Version
	if version == "" && flags.devel {
		version = ">0.0.0-0"
	}
	if registry.IsOCI(rel.RemoteChart) {
		return loadOCIChart(rel.RemoteChart, version, flags.plainHTTP || isInsecureHost(ociHost(rel.RemoteChart), insecure))
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

func loadOCIChart(remote, version string, plainHTTP bool) (*chart.Chart, error) {
	opts := []registry.ClientOption{registry.ClientOptWriter(io.Discard)}
	if plainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: %v", remote, err)
	}
	ref := strings.TrimPrefix(remote, "oci://")
	tag, err := ociTag(client, ref, version)
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: %w", remote, err)
	}
	res, err := client.Pull(ref+":"+tag, registry.PullOptWithChart(true))
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: pulling %s: %s", remote, tag, oneLine(err.Error()))
	}
	ch, err := loader.LoadArchive(bytes.NewReader(res.Chart.Data))
	if err != nil {
		return nil, fmt.Errorf("remoteChart %s: %s", remote, oneLine(err.Error()))
	}
	return ch, nil
}

// ociTag picks the tag for version: the version itself, or the highest tag
// satisfying a constraint (all of them when version is empty).
func ociTag(client *registry.Client, ref, version string) (string, error) {
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
	tags, err := client.Tags(ref)
	if err != nil {
		return "", fmt.Errorf("listing versions: %s", oneLine(err.Error()))
	}
	for _, t := range tags { // helm returns them highest first
		if v, err := semver.NewVersion(strings.ReplaceAll(t, "_", "+")); err == nil && c.Check(v) {
			return t, nil
		}
	}
	return "", fmt.Errorf("no version matches %q (have %s)", constraint, strings.Join(tags, ", "))
}

func ociHost(remote string) string {
	host, _, _ := strings.Cut(strings.TrimPrefix(remote, "oci://"), "/")
	return host
}

// isInsecureHost reports whether host is reached over plain HTTP: loopback
// registries always are, others when listed with --insecure-registry.
func isInsecureHost(host string, insecure []string) bool {
	if slices.Contains(insecure, host) {
		return true
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
