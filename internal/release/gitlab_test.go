package release

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// gitlabAPI is a loopback stand-in for GitLab's Releases API that checks
// what a GitLab server checks: the JOB-TOKEN header, the path, the JSON
// body; it keeps the releases it was given.
type gitlabAPI struct {
	t        *testing.T
	token    string
	mu       sync.Mutex
	releases map[string]map[string]any
	requests []string
}

func (g *gitlabAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, r.Method+" "+r.URL.EscapedPath())
	if r.Header.Get("JOB-TOKEN") != g.token {
		http.Error(w, `{"message":"401 Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, `{"message":"want JSON"}`, http.StatusUnsupportedMediaType)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":"bad JSON"}`, http.StatusBadRequest)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.EscapedPath() == "/api/v4/projects/42/releases":
		tag, _ := body["tag_name"].(string)
		if tag == "" {
			http.Error(w, `{"error":"tag_name is missing"}`, http.StatusBadRequest)
			return
		}
		if g.releases[tag] != nil {
			http.Error(w, `{"message":"Release already exists"}`, http.StatusConflict)
			return
		}
		g.releases[tag] = body
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"tag_name": tag, "_links": map[string]string{"self": "https://gitlab.example/g/p/-/releases/" + tag}})
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.EscapedPath(), "/api/v4/projects/42/releases/"):
		tag := strings.TrimPrefix(r.URL.Path, "/api/v4/projects/42/releases/")
		if g.releases[tag] == nil {
			http.Error(w, `{"message":"404 Not found"}`, http.StatusNotFound)
			return
		}
		for k, v := range body {
			g.releases[tag][k] = v
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"tag_name": tag})
	default:
		http.Error(w, `{"error":"404 Not Found"}`, http.StatusNotFound)
	}
}

func TestPublishGitLab(t *testing.T) {
	api := &gitlabAPI{t: t, token: "job-token-s3cret", releases: map[string]map[string]any{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	p := GitLabProject{APIURL: srv.URL + "/api/v4", ProjectID: "42", JobToken: api.token}
	rel := GitLabRelease{TagName: "v1.0.0", Name: "myapp v1.0.0", Description: "## Changes\n- one\n",
		Links: []GitLabLink{{Name: "myapp v1.0.0 (OCI release artifact)", URL: "https://registry.example/myapp/releases", Type: "package"}}}

	u, err := PublishGitLab(t.Context(), p, rel)
	if err != nil {
		t.Fatal(err)
	}
	if u != "https://gitlab.example/g/p/-/releases/v1.0.0" {
		t.Errorf("release URL %q", u)
	}
	got := api.releases["v1.0.0"]
	if got["name"] != rel.Name || got["description"] != rel.Description {
		t.Errorf("GitLab got %v", got)
	}
	links, _ := got["assets"].(map[string]any)["links"].([]any)
	if len(links) != 1 || links[0].(map[string]any)["link_type"] != "package" || links[0].(map[string]any)["url"] != rel.Links[0].URL {
		t.Errorf("GitLab got links %v", links)
	}

	// A job run again updates the release instead of failing.
	rel.Description = "## Changes\n- one\n- two\n"
	if _, err := PublishGitLab(t.Context(), p, rel); err != nil {
		t.Fatal(err)
	}
	if api.releases["v1.0.0"]["description"] != rel.Description {
		t.Errorf("the second run did not update the description: %v", api.releases["v1.0.0"])
	}
	if want := []string{"POST /api/v4/projects/42/releases", "POST /api/v4/projects/42/releases", "PUT /api/v4/projects/42/releases/v1.0.0"}; strings.Join(api.requests, ",") != strings.Join(want, ",") {
		t.Errorf("requests %v, want %v", api.requests, want)
	}

	// A wrong token: GitLab's message, never the token.
	p.JobToken = "wrong-token-s3cret"
	_, err = PublishGitLab(t.Context(), p, GitLabRelease{TagName: "v2"})
	var apiErr *GitLabAPIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("want a 401 GitLabAPIError, got %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the token: %v", err)
	}
}

func TestPublishGitLabRefusesPlainHTTP(t *testing.T) {
	_, err := PublishGitLab(t.Context(), GitLabProject{APIURL: "http://gitlab.example/api/v4", ProjectID: "1", JobToken: "t"}, GitLabRelease{TagName: "v1"})
	if err == nil || !strings.Contains(err.Error(), "without TLS") {
		t.Errorf("want a refusal to send the token over plain HTTP, got %v", err)
	}
}

func TestGitLabProjectFromEnv(t *testing.T) {
	_, err := GitLabProjectFromEnv(func(k string) string { return map[string]string{"CI_PROJECT_ID": "1"}[k] })
	if err == nil || !strings.Contains(err.Error(), "CI_API_V4_URL, CI_JOB_TOKEN") {
		t.Errorf("want an error naming the missing variables, got %v", err)
	}
}
