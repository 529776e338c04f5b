package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/skiff-dev/skiff/internal/oci/ocitest"
)

// chartRepoServer is a chart repository (index.yaml and archives) behind
// basic auth, recording what it is asked and whether credentials came.
type chartRepoServer struct {
	*httptest.Server
	user, pass string

	mu       sync.Mutex
	files    map[string][]byte
	index    map[string][]map[string]any
	requests []string // "path auth" or "path -"
}

const repoPassword = "s3cret-Pa55word"

func newChartRepoServer(t *testing.T, tls bool, user, pass string) *chartRepoServer {
	s := &chartRepoServer{user: user, pass: pass, files: map[string][]byte{}, index: map[string][]map[string]any{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		s.mu.Lock()
		mark := "-"
		if ok {
			mark = "auth"
		}
		s.requests = append(s.requests, r.URL.Path+" "+mark)
		data, found := s.files[r.URL.Path]
		s.mu.Unlock()
		if s.user != "" && (u != s.user || p != s.pass) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if !found {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

// addChart packs a chart made by testChart and lists it in index.yaml
// under url (relative to the repository, or absolute); a non-empty
// digest overrides the real one.
func (s *chartRepoServer) addChart(t *testing.T, name, version, url, digest string) []byte {
	t.Helper()
	data := ocitest.HelmArchive(t, testChart(t, t.TempDir(), name, version))
	sum := sha256.Sum256(data)
	if digest == "" {
		digest = hex.EncodeToString(sum[:])
	}
	if !strings.Contains(url, "://") {
		s.serve("/"+url, data)
	}
	s.mu.Lock()
	s.index[name] = append(s.index[name], map[string]any{"name": name, "version": version, "apiVersion": "v2", "urls": []string{url}, "digest": digest})
	s.mu.Unlock()
	s.writeIndex(t)
	return data
}

func (s *chartRepoServer) serve(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = data
}

func (s *chartRepoServer) writeIndex(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	data, err := sigsyaml.Marshal(map[string]any{"apiVersion": "v1", "entries": s.index})
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	s.serve("/index.yaml", data)
}

// fetched returns the archives asked for, with whether credentials came.
func (s *chartRepoServer) fetched() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.requests {
		if strings.Contains(r, ".tgz") {
			out = append(out, r)
		}
	}
	s.requests = nil
	return out
}

// testChart writes a chart whose one ConfigMap, <release>-<name>, says
// the chart's version.
func testChart(t *testing.T, dir, name, version string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "Chart.yaml"), fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version))
	writeFile(t, filepath.Join(dir, "templates", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-"+name+"\ndata:\n  version: {{ .Chart.Version | quote }}\n")
	return dir
}

// helmHome points helm's repositories.yaml and repository cache into a
// temporary directory and writes repositories.yaml.
func helmHome(t *testing.T, repos ...helmRepoEntry) (config, cache string) {
	t.Helper()
	dir := t.TempDir()
	config, cache = filepath.Join(dir, "repositories.yaml"), filepath.Join(dir, "cache")
	t.Setenv("HELM_REPOSITORY_CONFIG", config)
	t.Setenv("HELM_REPOSITORY_CACHE", cache)
	data, err := sigsyaml.Marshal(helmRepoFile{Repositories: repos})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, config, string(data))
	return config, cache
}

func caFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, p, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	return p
}

// versions renders rel and returns "name=version" of its ConfigMaps.
func versions(t *testing.T, rel HelmRelease) ([]string, error) {
	t.Helper()
	items, warnings, err := renderHelm(context.Background(), rel, helmContext{})
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		if strings.Contains(w, repoPassword) {
			t.Errorf("warning shows the repository's password: %s", w)
		}
	}
	var out []string
	for _, it := range items {
		if it.obj.GetKind() == "ConfigMap" {
			v, _, _ := nestedStringMap(it.obj.Object, "data")
			out = append(out, fmt.Sprintf("%s=%v", it.obj.GetName(), v["version"]))
		}
	}
	sort.Strings(out)
	return out, nil
}

// TestHelmRepoRemoteChart fetches remoteCharts from a chart repository
// over TLS with basic auth, as helm template does with a repository added
// by helm repo add: by alias, by --repo URL, and by archive URL.
func TestHelmRepoRemoteChart(t *testing.T) {
	srv := newChartRepoServer(t, true, "ci", repoPassword)
	other := newChartRepoServer(t, false, "", "") // a CDN the index points at
	srv.addChart(t, "web", "0.2.0", "charts/web-0.2.0.tgz", "")
	srv.addChart(t, "web", "0.3.0", "charts/web-0.3.0.tgz", "")
	srv.addChart(t, "web", "0.10.0-rc.1", "charts/web-0.10.0-rc.1.tgz", "")
	other.serve("/cdn/cdn-0.4.0.tgz", srv.addChart(t, "cdn", "0.4.0", other.URL+"/cdn/cdn-0.4.0.tgz", ""))
	srv.addChart(t, "tampered", "1.0.0", "charts/tampered-1.0.0.tgz", strings.Repeat("0", 64))
	entry := helmRepoEntry{Name: "skiffrepo", URL: srv.URL + "/", Username: "ci", Password: repoPassword, CAFile: caFile(t, srv.Server)}

	tests := []struct {
		name    string
		repos   []helmRepoEntry
		rel     HelmRelease
		want    string
		fetched []string
		wantErr string
	}{
		{name: "alias, exact version", rel: HelmRelease{RemoteChart: "skiffrepo/web", Version: "0.2.0"},
			want: "r-web=0.2.0", fetched: []string{"/charts/web-0.2.0.tgz auth"}},
		{name: "alias, constraint", rel: HelmRelease{RemoteChart: "skiffrepo/web", Version: ">=0.2 <1"},
			want: "r-web=0.3.0", fetched: []string{"/charts/web-0.3.0.tgz auth"}},
		{name: "alias, newest stable", rel: HelmRelease{RemoteChart: "skiffrepo/web"}, want: "r-web=0.3.0"},
		{name: "--devel takes prereleases", rel: HelmRelease{RemoteChart: "skiffrepo/web", Flags: []string{"--devel"}}, want: "r-web=0.10.0-rc.1"},
		{name: "repo URL with the settings of its entry", rel: HelmRelease{RemoteChart: "web", Repo: srv.URL, Version: "0.2.0"}, want: "r-web=0.2.0"},
		{name: "archive URL", rel: HelmRelease{RemoteChart: srv.URL + "/charts/web-0.3.0.tgz"},
			want: "r-web=0.3.0", fetched: []string{"/charts/web-0.3.0.tgz auth"}},
		{name: "credentials stay on the repository's host", rel: HelmRelease{RemoteChart: "skiffrepo/cdn"},
			want: "r-cdn=0.4.0", fetched: []string{"/cdn/cdn-0.4.0.tgz -"}},
		{name: "pass_credentials_all sends them on", repos: []helmRepoEntry{func() helmRepoEntry { e := entry; e.PassCredentialsAll = true; return e }()},
			rel: HelmRelease{RemoteChart: "skiffrepo/cdn"}, want: "r-cdn=0.4.0", fetched: []string{"/cdn/cdn-0.4.0.tgz auth"}},
		{name: "no such version", rel: HelmRelease{RemoteChart: "skiffrepo/web", Version: "^2"},
			wantErr: `helm release r: remoteChart skiffrepo/web: in repository skiffrepo (` + srv.URL + `/): no version of chart "web" matches "^2"`},
		{name: "no such chart", rel: HelmRelease{RemoteChart: "skiffrepo/nope"}, wantErr: `chart "nope" not found in the repository`},
		{name: "unknown alias", rel: HelmRelease{RemoteChart: "elsewhere/web"}, wantErr: "remoteChart elsewhere/web: no repository named elsewhere in "},
		{name: "tampered archive", rel: HelmRelease{RemoteChart: "skiffrepo/tampered"}, wantErr: "but index.yaml says " + strings.Repeat("0", 64)},
		{name: "wrong password", repos: []helmRepoEntry{func() helmRepoEntry { e := entry; e.Password = repoPassword + "x"; return e }()},
			rel: HelmRelease{RemoteChart: "skiffrepo/web"}, wantErr: "401 Unauthorized; check its username and password in helm's repositories.yaml"},
		{name: "no credentials", repos: []helmRepoEntry{func() helmRepoEntry { e := entry; e.Username, e.Password = "", ""; return e }()},
			rel: HelmRelease{RemoteChart: "skiffrepo/web"}, wantErr: "401 Unauthorized; give its credentials"},
		{name: "unknown CA", repos: []helmRepoEntry{func() helmRepoEntry { e := entry; e.CAFile = ""; return e }()},
			rel: HelmRelease{RemoteChart: "skiffrepo/web"}, wantErr: "certificate"},
		{name: "unknown CA, --insecure-skip-tls-verify", repos: []helmRepoEntry{func() helmRepoEntry { e := entry; e.CAFile = ""; return e }()},
			rel: HelmRelease{RemoteChart: "skiffrepo/web", Flags: []string{"--insecure-skip-tls-verify"}}, want: "r-web=0.3.0"},
		{name: "credentials in the repo URL", repos: []helmRepoEntry{func() helmRepoEntry { e := entry; e.Username, e.Password = "", ""; return e }()},
			rel: HelmRelease{RemoteChart: "nope", Repo: strings.Replace(srv.URL, "https://", "https://ci:"+repoPassword+"@", 1)}, wantErr: `chart "nope" not found`},
		{name: "missing local path", rel: HelmRelease{RemoteChart: "./nowhere"}, wantErr: `path "./nowhere" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repos := tt.repos
			if repos == nil {
				repos = []helmRepoEntry{entry}
			}
			helmHome(t, repos...)
			srv.fetched()
			other.fetched()
			tt.rel.Name = "r"
			got, err := versions(t, tt.rel)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), repoPassword) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line without the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("rendered %v, want [%s]", got, tt.want)
			}
			if tt.fetched != nil {
				if f := append(srv.fetched(), other.fetched()...); strings.Join(f, ",") != strings.Join(tt.fetched, ",") {
					t.Errorf("archives fetched %v, want %v", f, tt.fetched)
				}
			}
		})
	}
}

// TestHelmRepoCachedIndex: like helm, a repository alias picks versions
// from the index `helm repo update` cached, not the repository's newest;
// a version the cache lacks is looked up in the repository's index.
func TestHelmRepoCachedIndex(t *testing.T) {
	srv := newChartRepoServer(t, false, "", "")
	srv.addChart(t, "web", "0.2.0", "charts/web-0.2.0.tgz", "")
	stale := srv.files["/index.yaml"]
	srv.addChart(t, "web", "0.3.0", "charts/web-0.3.0.tgz", "")
	_, cache := helmHome(t, helmRepoEntry{Name: "skiffrepo", URL: srv.URL})
	writeFile(t, filepath.Join(cache, "skiffrepo-index.yaml"), string(stale))

	for version, want := range map[string]string{"": "r-web=0.2.0", "0.3.0": "r-web=0.3.0"} {
		got, err := versions(t, HelmRelease{Name: "r", RemoteChart: "skiffrepo/web", Version: version})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("version %q: rendered %v, want [%s]", version, got, want)
		}
	}
}
