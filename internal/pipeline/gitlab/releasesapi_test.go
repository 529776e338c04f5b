package gitlab

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// releasesAPI is a loopback stand-in for GitLab's Releases API, for the
// release job's skiff release create --gitlab-release: it checks the
// JOB-TOKEN header and the project, and keeps the tags it was asked to
// release. Its variables point a job at it (and nowhere off the machine).
type releasesAPI struct {
	vars []string
	mu   sync.Mutex
	tags []string
}

func newReleasesAPI(t *testing.T, token string) *releasesAPI {
	t.Helper()
	api := &releasesAPI{}
	srv := httptest.NewServer(api.handler(token))
	t.Cleanup(srv.Close)
	api.vars = []string{"--variable", "CI_API_V4_URL=" + srv.URL + "/api/v4", "--variable", "CI_PROJECT_ID=" + releasesProject, "--variable", "CI_JOB_TOKEN=" + token}
	return api
}

// releasesProject is the project id the stand-in serves.
const releasesProject = "7"

// handler serves POST /api/v4/projects/<releasesProject>/releases.
func (api *releasesAPI) handler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			TagName string `json:"tag_name"`
		}
		switch {
		case r.Header.Get("JOB-TOKEN") != token:
			http.Error(w, `{"message":"401 Unauthorized"}`, http.StatusUnauthorized)
		case r.Method != http.MethodPost || r.URL.Path != "/api/v4/projects/"+releasesProject+"/releases":
			http.Error(w, `{"error":"404 Not Found"}`, http.StatusNotFound)
		case json.NewDecoder(r.Body).Decode(&body) != nil || body.TagName == "":
			http.Error(w, `{"error":"tag_name is missing"}`, http.StatusBadRequest)
		default:
			api.mu.Lock()
			api.tags = append(api.tags, body.TagName)
			api.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{}`))
		}
	})
}

// released is the tags the API was asked to release.
func (a *releasesAPI) released() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tags...)
}
