package render

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/helmpath"
	sigsyaml "sigs.k8s.io/yaml"
)

// Chart repositories (index.yaml over HTTP) are read here rather than
// through helm's pkg/repo and pkg/getter: those pull kubectl and
// cli-runtime into the binary. The behaviour follows helm's: credentials
// go only to the repository's own scheme and host unless
// pass_credentials_all is set, and chart URLs are relative to the index.

// helmRepoEntry is one repository in helm's repositories.yaml.
type helmRepoEntry struct {
	Name                  string `json:"name"`
	URL                   string `json:"url"`
	Username              string `json:"username"`
	Password              string `json:"password"`
	CertFile              string `json:"certFile"`
	KeyFile               string `json:"keyFile"`
	CAFile                string `json:"caFile"`
	InsecureSkipTLSVerify bool   `json:"insecure_skip_tls_verify"`
	PassCredentialsAll    bool   `json:"pass_credentials_all"`
}

// helmRepoFile is helm's repositories.yaml, as `helm repo add` writes it.
type helmRepoFile struct {
	path         string
	cacheDir     string          // helm's repository cache, for the indexes of repo update
	Repositories []helmRepoEntry `json:"repositories"`
}

// loadHelmRepoFile reads the repositories.yaml helm would use
// (HELM_REPOSITORY_CONFIG, else helm's config directory). A missing file
// is an empty list, as for helm.
func loadHelmRepoFile() (*helmRepoFile, error) {
	p := os.Getenv("HELM_REPOSITORY_CONFIG")
	if p == "" {
		p = helmpath.ConfigPath("repositories.yaml")
	}
	cache := os.Getenv("HELM_REPOSITORY_CACHE")
	if cache == "" {
		cache = helmpath.CachePath("repository")
	}
	f := &helmRepoFile{path: p, cacheDir: cache}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading helm repositories %s: %w", p, err)
	}
	if err := sigsyaml.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("helm repositories %s: %s; fix the file or set HELM_REPOSITORY_CONFIG", p, oneLine(err.Error()))
	}
	return f, nil
}

// byName returns the repository helm knows as name.
func (f *helmRepoFile) byName(name string) (helmRepoEntry, bool) {
	for _, e := range f.Repositories {
		if e.Name == name {
			return e, true
		}
	}
	return helmRepoEntry{}, false
}

// byURL returns the repository added for repoURL, for its credentials
// and TLS settings.
func (f *helmRepoFile) byURL(repoURL string) (helmRepoEntry, bool) {
	for _, e := range f.Repositories {
		if sameRepoURL(e.URL, repoURL) {
			return e, true
		}
	}
	return helmRepoEntry{}, false
}

// byURLPrefix returns the repository that chartURL (a chart archive) is
// in, judged by its URL: helm looks the archive up in the cached indexes,
// skiff takes the repository whose URL the archive's URL starts with.
func (f *helmRepoFile) byURLPrefix(chartURL string) (helmRepoEntry, bool) {
	c, err := url.Parse(chartURL)
	if err != nil {
		return helmRepoEntry{}, false
	}
	for _, e := range f.Repositories {
		u, err := url.Parse(e.URL)
		if err != nil || u.Scheme != c.Scheme || u.Host != c.Host {
			continue
		}
		if strings.HasPrefix(c.Path, strings.TrimSuffix(u.Path, "/")+"/") {
			return e, true
		}
	}
	return helmRepoEntry{}, false
}

// sameRepoURL compares repository URLs like helm (a trailing slash or
// "." in the path does not matter).
func sameRepoURL(a, b string) bool {
	au, err1 := url.Parse(a)
	bu, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	for _, u := range []*url.URL{au, bu} {
		u.Path = path.Clean("/" + u.Path)
		u.RawPath = ""
		u.User = nil // credentials in a URL do not make it another repository
	}
	return au.String() == bu.String()
}

// chartRepo is a chart repository and how to reach it. url never holds
// credentials, so that it can be named in errors.
type chartRepo struct {
	url   string
	entry helmRepoEntry // credentials and TLS settings; URL unused
	// cachedIndex is the index `helm repo update` left for the repository
	// ("" when it is not in repositories.yaml).
	cachedIndex string
	// insecureSkipTLS is --insecure-skip-tls-verify of the release.
	insecureSkipTLS bool
}

// repoByURL returns the repository at rawURL, with the credentials, TLS
// settings and cached index of the repositories.yaml entry added for it.
func (f *helmRepoFile) repoByURL(rawURL string, insecureSkipTLS bool) (chartRepo, error) {
	entry, _ := f.byURL(rawURL)
	return f.repo(rawURL, entry, insecureSkipTLS)
}

// repoByName returns the repository added to repositories.yaml as name.
func (f *helmRepoFile) repoByName(name string, insecureSkipTLS bool) (chartRepo, error) {
	entry, ok := f.byName(name)
	if !ok {
		return chartRepo{}, fmt.Errorf("no repository named %s in %s; add it with helm repo add %s URL", name, f.path, name)
	}
	return f.repo(entry.URL, entry, insecureSkipTLS)
}

// repo returns the repository at rawURL with the settings of entry;
// credentials in the URL itself win.
func (f *helmRepoFile) repo(rawURL string, entry helmRepoEntry, insecureSkipTLS bool) (chartRepo, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return chartRepo{}, fmt.Errorf("%q is not an http(s) chart repository URL", redactURL(rawURL))
	}
	if u.User != nil {
		entry.Username = u.User.Username()
		entry.Password, _ = u.User.Password()
		u.User = nil
	}
	r := chartRepo{url: u.String(), entry: entry, insecureSkipTLS: insecureSkipTLS}
	if entry.Name != "" && f.cacheDir != "" {
		r.cachedIndex = filepath.Join(f.cacheDir, helmpath.CacheIndexFile(entry.Name))
	}
	return r, nil
}

// redactURL drops the credentials of a URL that is going into an error.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an unparsable URL)"
	}
	u.User = nil
	return u.String()
}

// helmIndex is the part of a repository's index.yaml skiff reads.
type helmIndex struct {
	APIVersion string                         `json:"apiVersion"`
	Entries    map[string][]*helmIndexVersion `json:"entries"`
}

type helmIndexVersion struct {
	Version string   `json:"version"`
	URLs    []string `json:"urls"`
	Digest  string   `json:"digest"`
}

// index fetches and parses the repository's index.yaml.
func (r chartRepo) index(ctx context.Context) (*helmIndex, error) {
	href, err := resolveRepoURL(r.url, "index.yaml")
	if err != nil {
		return nil, err
	}
	data, err := r.get(ctx, href)
	if err != nil {
		return nil, fmt.Errorf("fetching index.yaml: %w", err)
	}
	return parseHelmIndex(data)
}

func parseHelmIndex(data []byte) (*helmIndex, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("index.yaml is empty; is this a chart repository?")
	}
	var idx helmIndex
	if err := sigsyaml.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("index.yaml: %s; is this a chart repository?", oneLine(err.Error()))
	}
	if idx.APIVersion == "" {
		return nil, errors.New("index.yaml has no apiVersion; is this a chart repository?")
	}
	return &idx, nil
}

// pick returns the version of chart name that helm would: an exact match
// of version, else the highest version satisfying it as a constraint
// (any non-prerelease version when version is empty).
func (idx *helmIndex) pick(name, version string) (*helmIndexVersion, error) {
	versions := idx.Entries[name]
	if len(versions) == 0 {
		return nil, fmt.Errorf("chart %q not found in the repository", name)
	}
	constraint := version
	if constraint == "" {
		constraint = "*"
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return nil, fmt.Errorf("version %q is neither a version nor a constraint: %v", version, err)
	}
	type parsed struct {
		v  *semver.Version
		cv *helmIndexVersion
	}
	var candidates []parsed
	for _, cv := range versions {
		if cv == nil || len(cv.URLs) == 0 {
			continue // helm skips entries it cannot download
		}
		if version != "" && cv.Version == version {
			return cv, nil
		}
		if v, err := semver.NewVersion(cv.Version); err == nil && c.Check(v) {
			candidates = append(candidates, parsed{v, cv})
		}
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("no version of chart %q matches %q", name, constraint)
	}
	sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].v.GreaterThan(candidates[j].v) })
	return candidates[0].cv, nil
}

// findChart loads chart name at version (a version or a constraint) from
// the repository. Like helm, it picks the version from the index `helm
// repo update` cached, if there is one; unlike helm, it fetches the
// repository's current index when there is none or the version is not in
// it, and always when fresh is set (--dependency-update).
func (r chartRepo) findChart(ctx context.Context, name, version string, fresh bool) (*chart.Chart, error) {
	var cv *helmIndexVersion
	if !fresh && r.cachedIndex != "" {
		if data, err := os.ReadFile(r.cachedIndex); err == nil {
			if idx, err := parseHelmIndex(data); err == nil {
				cv, _ = idx.pick(name, version)
			}
		}
	}
	if cv == nil {
		idx, err := r.index(ctx)
		if err != nil {
			return nil, err
		}
		if cv, err = idx.pick(name, version); err != nil {
			return nil, err
		}
	}
	href, err := resolveRepoURL(r.url, cv.URLs[0])
	if err != nil {
		return nil, err
	}
	return r.fetchChart(ctx, href, cv.Digest)
}

// fetchChart downloads the chart archive at href, checks it against
// digest (sha256, hex) when there is one (helm does not: a repository
// whose index disagrees with its archives is refused here), and loads it.
func (r chartRepo) fetchChart(ctx context.Context, href, digest string) (*chart.Chart, error) {
	data, err := r.get(ctx, href)
	if err != nil {
		return nil, fmt.Errorf("fetching the chart: %w", err)
	}
	if digest != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != strings.TrimPrefix(digest, "sha256:") {
			return nil, fmt.Errorf("chart %s has digest sha256:%s, but index.yaml says %s; the repository is inconsistent or the download was altered", redactURL(href), got, digest)
		}
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %s", redactURL(href), oneLine(err.Error()))
	}
	return ch, nil
}

// get fetches href. The repository's credentials are sent only to the
// repository's scheme and host, or everywhere with pass_credentials_all.
func (r chartRepo) get(ctx context.Context, href string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, href, nil)
	if err != nil {
		return nil, fmt.Errorf("bad URL %s", redactURL(href))
	}
	req.Header.Set("User-Agent", "skiff (helm chart repository client)")
	base, _ := url.Parse(r.url)
	sameHost := base != nil && base.Scheme == req.URL.Scheme && base.Host == req.URL.Host
	if r.entry.Username != "" && r.entry.Password != "" && (sameHost || r.entry.PassCredentialsAll) {
		req.SetBasicAuth(r.entry.Username, r.entry.Password)
	}
	client, err := r.client()
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its URL may hold credentials
		}
		return nil, fmt.Errorf("GET %s: %s", redactURL(href), oneLine(err.Error()))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		hint := "give its credentials in helm's repositories.yaml (helm repo add --username --password)"
		if req.Header.Get("Authorization") != "" {
			hint = "check its username and password in helm's repositories.yaml"
		}
		return nil, fmt.Errorf("GET %s: %s; %s", redactURL(href), resp.Status, hint)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s", redactURL(href), resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %s", redactURL(href), oneLine(err.Error()))
	}
	return data, nil
}

// client is an HTTP client with the repository's TLS settings.
func (r chartRepo) client() (*http.Client, error) {
	e := r.entry
	if e.CAFile == "" && e.CertFile == "" && e.KeyFile == "" && !e.InsecureSkipTLSVerify && !r.insecureSkipTLS {
		return http.DefaultClient, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: e.InsecureSkipTLSVerify || r.insecureSkipTLS} //nolint:gosec // asked for by the user
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("caFile %s: no PEM certificate in it", e.CAFile)
		}
		cfg.RootCAs = pool
	}
	if e.CertFile != "" || e.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("certFile/keyFile: %s", oneLine(err.Error()))
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return &http.Client{Transport: t}, nil
}

// resolveRepoURL resolves ref against the repository URL base like helm's
// repo.ResolveReferenceURL: base is a directory, and its query is kept.
func resolveRepoURL(base, ref string) (string, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("bad chart URL %q in index.yaml", redactURL(ref))
	}
	if r.IsAbs() {
		return ref, nil
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("bad repository URL %s", redactURL(base))
	}
	b.RawPath = strings.TrimSuffix(b.RawPath, "/") + "/"
	b.Path = strings.TrimSuffix(b.Path, "/") + "/"
	resolved := b.ResolveReference(r)
	resolved.RawQuery = b.RawQuery
	return resolved.String(), nil
}
