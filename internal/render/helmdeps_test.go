package render

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"

	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/oci/ocitest"
)

// depsFixture is a chart app whose Chart.yaml asks for a vendored chart,
// a file:// chart, a chart from a repository by URL, one by @alias and
// one from an OCI registry.
type depsFixture struct {
	dir      string
	srv      *chartRepoServer
	registry *oci.Client
}

func newDepsFixture(t *testing.T) depsFixture {
	t.Helper()
	srv := newChartRepoServer(t, true, "ci", repoPassword)
	srv.addChart(t, "web", "0.2.0", "charts/web-0.2.0.tgz", "")
	srv.addChart(t, "web", "0.2.1", "charts/web-0.2.1.tgz", "")
	srv.addChart(t, "api", "1.0.0", "charts/api-1.0.0.tgz", "")
	srv.addChart(t, "vendored", "9.0.0", "charts/vendored-9.0.0.tgz", "")
	helmHome(t, helmRepoEntry{Name: "skiffrepo", URL: srv.URL, Username: "ci", Password: repoPassword, CAFile: caFile(t, srv.Server)})

	reg := ocitest.New(t, false)
	queue := testChart(t, t.TempDir(), "queue", "2.1.0")
	reg.Push(t, "charts/queue:2.1.0", ocitest.HelmChart(t, queue))
	registry := oci.New(oci.Options{Insecure: []string{privateRegistry}, Transport: reg.Redirect(), Attempts: 1, Keychain: authn.NewMultiKeychain()})

	root := t.TempDir()
	dir := filepath.Join(root, "app")
	testChart(t, dir, "app", "1.0.0")
	testChart(t, filepath.Join(dir, "charts", "vendored"), "vendored", "1.0.0")
	testChart(t, filepath.Join(root, "local"), "local", "0.1.0")
	writeFile(t, filepath.Join(dir, "Chart.yaml"), `apiVersion: v2
name: app
version: 1.0.0
dependencies:
- name: vendored
  version: "*"
  repository: `+srv.URL+`
- name: local
  version: ~0.1.0
  repository: file://../local
- name: web
  version: ~0.2.0
  repository: `+srv.URL+`
- name: api
  version: 1.0.0
  repository: "@skiffrepo"
- name: queue
  version: ^2.0.0
  repository: oci://`+privateRegistry+`/charts
`)
	return depsFixture{dir: dir, srv: srv, registry: registry}
}

func (f depsFixture) render(t *testing.T, rel HelmRelease) ([]string, error) {
	t.Helper()
	rel.Name, rel.ChartPath = "r", f.dir
	items, _, err := renderHelm(context.Background(), rel, helmContext{registry: f.registry})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		v, _, _ := nestedStringMap(it.obj.Object, "data")
		out = append(out, it.obj.GetName()+"="+v["version"].(string))
	}
	return out, nil
}

// helmLock writes Chart.lock with helm's own `helm dependency update`,
// then drops what it downloaded into charts/, which skiff must fetch.
func helmLock(t *testing.T, dir string, srv *chartRepoServer) {
	t.Helper()
	srv.mu.Lock()
	writeFile(t, filepath.Join(os.Getenv("HELM_REPOSITORY_CACHE"), "skiffrepo-index.yaml"), string(srv.files["/index.yaml"]))
	srv.mu.Unlock()
	settings := cli.New()
	m := &downloader.Manager{Out: io.Discard, ChartPath: dir, Getters: getter.All(settings),
		RepositoryConfig: os.Getenv("HELM_REPOSITORY_CONFIG"), RepositoryCache: os.Getenv("HELM_REPOSITORY_CACHE"), SkipUpdate: true}
	// The OCI dependency is left out: helm would need its own registry client.
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	full := string(data)
	noOCI := full[:strings.Index(full, "- name: queue")]
	writeFile(t, filepath.Join(dir, "Chart.yaml"), noOCI)
	if err := m.Update(); err != nil {
		t.Fatalf("helm dependency update: %v", err)
	}
	tgzs, _ := filepath.Glob(filepath.Join(dir, "charts", "*.tgz"))
	for _, p := range tgzs {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	// helm replaced charts/ with what it fetched; vendor the chart again.
	testChart(t, filepath.Join(dir, "charts", "vendored"), "vendored", "1.0.0")
}

func TestHelmDependencies(t *testing.T) {
	f := newDepsFixture(t)
	want := []string{"r-app=1.0.0", "r-vendored=1.0.0", "r-local=0.1.0", "r-web=0.2.1", "r-api=1.0.0", "r-queue=2.1.0"}
	got, err := f.render(t, HelmRelease{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sortedCopy(want), sortedCopy(got)); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}
	// Nothing is written into the chart.
	if entries, _ := os.ReadDir(filepath.Join(f.dir, "charts")); len(entries) != 1 {
		t.Errorf("charts/ has %d entries, want only the vendored chart", len(entries))
	}
	if _, err := os.Stat(filepath.Join(f.dir, "Chart.lock")); err == nil {
		t.Error("a Chart.lock was written")
	}
	for _, r := range f.srv.fetched() {
		if strings.Contains(r, "vendored") || !strings.HasSuffix(r, " auth") {
			t.Errorf("fetched %s: want no vendored chart, and credentials for the repository's own archives", r)
		}
	}
}

// TestHelmDependenciesLock: with a Chart.lock (written by helm), the
// locked versions are fetched, not the newest; --dependency-update takes
// the newest; a lock that does not match Chart.yaml is refused.
func TestHelmDependenciesLock(t *testing.T) {
	f := newDepsFixture(t)
	helmLock(t, f.dir, f.srv)
	// A newer web appears after the lock was written, and helm repo update
	// caches it.
	f.srv.addChart(t, "web", "0.2.2", "charts/web-0.2.2.tgz", "")
	writeFile(t, filepath.Join(os.Getenv("HELM_REPOSITORY_CACHE"), "skiffrepo-index.yaml"), string(f.srv.files["/index.yaml"]))
	locked, err := f.render(t, HelmRelease{})
	if err != nil {
		t.Fatal(err)
	}
	if !contains(locked, "r-web=0.2.1") {
		t.Errorf("with Chart.lock rendered %v, want the locked web 0.2.1", locked)
	}
	updated, err := f.render(t, HelmRelease{Flags: []string{"--dependency-update"}})
	if err != nil {
		t.Fatal(err)
	}
	if !contains(updated, "r-web=0.2.2") {
		t.Errorf("with --dependency-update rendered %v, want web 0.2.2", updated)
	}

	data, _ := os.ReadFile(filepath.Join(f.dir, "Chart.yaml"))
	writeFile(t, filepath.Join(f.dir, "Chart.yaml"), strings.Replace(string(data), "~0.2.0", "~0.2.2", 1))
	_, err = f.render(t, HelmRelease{})
	wantErr := "helm release r: chart " + f.dir + ": Chart.lock is out of sync with the dependencies in Chart.yaml; run helm dependency update"
	if err == nil || !strings.HasPrefix(err.Error(), wantErr) {
		t.Errorf("error %v, want one starting %q", err, wantErr)
	}
}

func TestHelmDependenciesRefused(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		rel     HelmRelease
		wantErr string
	}{
		{name: "skipBuildDependencies", rel: HelmRelease{SkipBuildDependencies: true},
			wantErr: ": dependencies local, web, api, queue are not in its charts/ directory; run helm dependency build for it, or drop skipBuildDependencies"},
		{name: "no repository", edit: func(s string) string { return strings.Replace(s, "repository: file://../local", `repository: ""`, 1) },
			wantErr: `: dependency local (repository "", version "~0.1.0"): it has no repository, so it must be in charts/local; vendor it there, or give it a repository`},
		{name: "unknown alias", edit: func(s string) string { return strings.Replace(s, "@skiffrepo", "@elsewhere", 1) },
			wantErr: ": dependency api: no repository named elsewhere in "},
		{name: "repository name instead of URL", edit: func(s string) string { return strings.Replace(s, `"@skiffrepo"`, "stable", 1) },
			wantErr: `: dependency api (repository "stable", version "1.0.0"): the repository is neither a URL nor @name`},
		{name: "local version", edit: func(s string) string { return strings.Replace(s, "~0.1.0", "^1", 1) },
			wantErr: `: dependency local (repository "file://../local", version "^1"): `},
		{name: "local path", edit: func(s string) string { return strings.Replace(s, "file://../local", "file://../gone", 1) },
			wantErr: `: dependency local (repository "file://../gone", version "~0.1.0"): directory `},
		{name: "alias named as written", edit: func(s string) string {
			return strings.Replace(s, "version: 1.0.0\n  repository: \"@skiffrepo\"", "version: 7.0.0\n  repository: \"@skiffrepo\"", 1)
		},
			wantErr: `: dependency api (repository "@skiffrepo", version "7.0.0"): no version of chart "api" matches "7.0.0"`},
		{name: "no such version", edit: func(s string) string { return strings.Replace(s, "~0.2.0", "~0.9.0", 1) },
			wantErr: `: dependency web (repository "` + "SRV" + `", version "~0.9.0"): no version of chart "web" matches "~0.9.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDepsFixture(t)
			if tt.edit != nil {
				data, _ := os.ReadFile(filepath.Join(f.dir, "Chart.yaml"))
				writeFile(t, filepath.Join(f.dir, "Chart.yaml"), tt.edit(string(data)))
			}
			_, err := f.render(t, tt.rel)
			want := "helm release r: chart " + f.dir + strings.ReplaceAll(tt.wantErr, "SRV", f.srv.URL)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %v, want one starting %q", err, want)
			}
			if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), repoPassword) {
				t.Errorf("error is not one line without the password: %v", err)
			}
		})
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
