package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	helmregistry "helm.sh/helm/v3/pkg/registry"

	"github.com/skiff-dev/skiff/internal/oci"
)

// buildDependencies gives a local chart the dependencies of its
// Chart.yaml that are not vendored in its charts/ directory, as `helm
// dependency build` would fetch them (`helm dependency update` with
// --dependency-update): the versions of Chart.lock when there is one, else
// the newest ones the constraints allow. Skaffold runs `helm dependency
// build` before it renders, unless skipBuildDependencies. Unlike helm, the
// charts are attached in memory: the chart directory, its charts/ and its
// Chart.lock are left as they are, and what is vendored wins.
func buildDependencies(ctx context.Context, ch *chart.Chart, rel HelmRelease, flags helmFlags, registry *oci.Client) error {
	missing := missingDependencies(ch)
	if len(missing) == 0 {
		return nil
	}
	where := "chart " + rel.ChartPath
	list := strings.Join(missing, ", ")
	if rel.SkipBuildDependencies && !flags.dependencyUpdate {
		return fmt.Errorf("%s: dependencies %s are not in its charts/ directory; run helm dependency build for it, or drop skipBuildDependencies", where, list)
	}
	if fi, err := os.Stat(rel.ChartPath); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s: dependencies %s are not in the archive; package the chart after helm dependency build", where, list)
	}
	repos, err := loadHelmRepoFile()
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	reqs, err := resolveRepoAliases(ch.Metadata.Dependencies, repos)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	var locked []*chart.Dependency
	if ch.Lock != nil && !flags.dependencyUpdate {
		if err := checkLock(ch, reqs); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		locked = ch.Lock.Dependencies
	}
	if registry == nil {
		registry = oci.New(oci.Options{})
	}
	for _, name := range missing {
		d := findDependency(reqs, name)
		repository, version := d.Repository, d.Version
		if l := findDependency(locked, name); l != nil {
			repository, version = l.Repository, l.Version
		}
		dep, err := fetchDependency(ctx, rel.ChartPath, repository, name, version, flags, repos, registry)
		if err != nil {
			given := findDependency(ch.Metadata.Dependencies, name).Repository // "@name" as written
			return fmt.Errorf("%s: dependency %s (repository %q, version %q): %w", where, name, given, version, err)
		}
		ch.AddDependency(dep)
	}
	return nil
}

func findDependency(deps []*chart.Dependency, name string) *chart.Dependency {
	for _, d := range deps {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// resolveRepoAliases returns a copy of deps in which repositories given as
// "@name" or "alias:name" are the URLs repositories.yaml has for them, as
// helm's dependency manager rewrites them before it hashes the lock.
func resolveRepoAliases(deps []*chart.Dependency, repos *helmRepoFile) ([]*chart.Dependency, error) {
	out := make([]*chart.Dependency, len(deps))
	for i, d := range deps {
		c := *d
		out[i] = &c
		name, ok := strings.CutPrefix(d.Repository, "@")
		if !ok {
			name, ok = strings.CutPrefix(d.Repository, "alias:")
		}
		if !ok {
			continue
		}
		e, found := repos.byName(name)
		if !found {
			return nil, fmt.Errorf("dependency %s: no repository named %s in %s; add it with helm repo add %s URL, or give the dependency's repository as a URL", d.Name, name, repos.path, name)
		}
		c.Repository = e.URL
	}
	return out, nil
}

// checkLock refuses a Chart.lock written for other dependencies than
// those of Chart.yaml, as `helm dependency build` does: the lock's digest
// is helm's hash of both lists.
func checkLock(ch *chart.Chart, reqs []*chart.Dependency) error {
	lockFile := "Chart.lock"
	if ch.Metadata.APIVersion == chart.APIVersionV1 {
		lockFile = "requirements.lock"
	}
	sum, err := helmDigest([2][]*chart.Dependency{reqs, ch.Lock.Dependencies})
	if err == nil && sum == ch.Lock.Digest {
		return nil
	}
	if ch.Metadata.APIVersion == chart.APIVersionV1 {
		// A lock written by helm 2 hashes only the requirements, unresolved.
		if v2, err := helmDigest(map[string][]*chart.Dependency{"dependencies": ch.Metadata.Dependencies}); err == nil && v2 == ch.Lock.Digest {
			return nil
		}
	}
	return fmt.Errorf("%s is out of sync with the dependencies in Chart.yaml; run helm dependency update for the chart, or pass --dependency-update in the release's flags", lockFile)
}

// helmDigest is helm's digest of v: sha256 of its JSON.
func helmDigest(v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// fetchDependency loads chart name at version (a version or a constraint)
// from repository: a directory (file://), an OCI registry (oci://) or a
// chart repository URL.
func fetchDependency(ctx context.Context, chartDir, repository, name, version string, flags helmFlags, repos *helmRepoFile, registry *oci.Client) (*chart.Chart, error) {
	switch {
	case repository == "":
		return nil, fmt.Errorf("it has no repository, so it must be in charts/%s; vendor it there, or give it a repository", name)
	case strings.HasPrefix(repository, "file://"):
		return localDependency(chartDir, repository, version)
	case helmregistry.IsOCI(repository):
		remote := strings.TrimSuffix(repository, "/") + "/" + name
		if flags.plainHTTP || flags.insecureSkipTLS {
			registry = registry.WithInsecure(ociHost(remote))
		}
		return pullOCIChart(ctx, registry, remote, version)
	}
	if _, err := url.ParseRequestURI(repository); err != nil || !strings.Contains(repository, "//") {
		return nil, fmt.Errorf("the repository is neither a URL nor @name of a repository in %s; give its URL, or add it with helm repo add and write @name", repos.path)
	}
	r, err := repos.repoByURL(repository, flags.insecureSkipTLS)
	if err != nil {
		return nil, err
	}
	return r.findChart(ctx, name, version, flags.dependencyUpdate)
}

// localDependency loads the chart directory of a file:// repository,
// relative to the chart, and checks its version like helm.
func localDependency(chartDir, repository, version string) (*chart.Chart, error) {
	p := strings.TrimPrefix(repository, "file://")
	if !filepath.IsAbs(p) {
		p = filepath.Join(chartDir, p)
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("directory %s not found; fix the dependency's file:// path (it is relative to the chart)", p)
	}
	ch, err := loader.LoadDir(p)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %s", p, oneLine(err.Error()))
	}
	c, err := semver.NewConstraint(version)
	if err != nil {
		return nil, fmt.Errorf("version %q is neither a version nor a constraint: %v", version, err)
	}
	v, err := semver.NewVersion(ch.Metadata.Version)
	if err != nil || !c.Check(v) {
		return nil, fmt.Errorf("%s has version %s, which does not match; fix the version, or run helm dependency update for the chart", p, ch.Metadata.Version)
	}
	return ch, nil
}
