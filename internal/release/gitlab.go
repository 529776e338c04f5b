package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// GitLabProject is where a GitLab release is created, and with what token:
// a job's CI_API_V4_URL, CI_PROJECT_ID and CI_JOB_TOKEN.
type GitLabProject struct {
	APIURL    string
	ProjectID string
	JobToken  string
	// HTTP is the client; nil means http.DefaultClient.
	HTTP *http.Client
}

// GitLabProjectFromEnv is the project of the GitLab job whose environment
// getenv reads; it names the variables that are missing.
func GitLabProjectFromEnv(getenv func(string) string) (GitLabProject, error) {
	p := GitLabProject{APIURL: getenv("CI_API_V4_URL"), ProjectID: getenv("CI_PROJECT_ID"), JobToken: getenv("CI_JOB_TOKEN")}
	var missing []string
	for k, v := range map[string]string{"CI_API_V4_URL": p.APIURL, "CI_PROJECT_ID": p.ProjectID, "CI_JOB_TOKEN": p.JobToken} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		return p, fmt.Errorf("a GitLab release needs the GitLab job variables %s, which are not set: run it in a GitLab CI job", strings.Join(missing, ", "))
	}
	return p, nil
}

// GitLabRelease is the release to create for a tag.
type GitLabRelease struct {
	TagName     string
	Name        string
	Description string
	Links       []GitLabLink
}

// GitLabLink is a release asset link.
type GitLabLink struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Type is package, image, runbook or other.
	Type string `json:"link_type,omitempty"`
}

// GitLabAPIError is an answer of GitLab's API other than success.
type GitLabAPIError struct {
	Method, URL string
	Status      int
	Message     string
}

func (e *GitLabAPIError) Error() string {
	return fmt.Sprintf("GitLab API %s %s: %d %s: %s", e.Method, e.URL, e.Status, http.StatusText(e.Status), e.Message)
}

// PublishGitLab creates the GitLab release of r.TagName through GitLab's
// Releases API (POST /projects/:id/releases with the JOB-TOKEN header), or
// updates its name and description when it exists already (a job run
// again). It returns the release's web URL when GitLab gives one. The job
// token goes only to APIURL, over HTTPS unless APIURL is loopback.
func PublishGitLab(ctx context.Context, p GitLabProject, r GitLabRelease) (string, error) {
	base, err := url.Parse(strings.TrimSuffix(p.APIURL, "/"))
	if err != nil || base.Host == "" {
		return "", fmt.Errorf("CI_API_V4_URL %q is not a URL", p.APIURL)
	}
	if base.Scheme != "https" && !(base.Scheme == "http" && isLoopbackHost(base.Hostname())) {
		return "", fmt.Errorf("CI_API_V4_URL %s: refusing to send the job token without TLS", p.APIURL)
	}
	links := r.Links
	if links == nil {
		links = []GitLabLink{}
	}
	create := map[string]any{"tag_name": r.TagName, "name": r.Name, "description": r.Description, "assets": map[string]any{"links": links}}
	collection := base.JoinPath("projects", p.ProjectID, "releases").String()
	out, err := gitlabCall(ctx, p, http.MethodPost, collection, create)
	var apiErr *GitLabAPIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		update := map[string]any{"name": r.Name, "description": r.Description}
		out, err = gitlabCall(ctx, p, http.MethodPut, collection+"/"+url.PathEscape(r.TagName), update)
	}
	if err != nil {
		return "", err
	}
	var answer struct {
		Links struct {
			Self string `json:"self"`
		} `json:"_links"`
	}
	_ = json.Unmarshal(out, &answer)
	return answer.Links.Self, nil
}

func gitlabCall(ctx context.Context, p GitLabProject, method, u string, body any) ([]byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("JOB-TOKEN", p.JobToken)
	client := p.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	// No redirects: the token must not follow one to another host.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GitLab API %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GitLab API %s %s: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		var msg struct {
			Message any `json:"message"`
			Error   any `json:"error"`
		}
		_ = json.Unmarshal(out, &msg)
		text := fmt.Sprint(firstNonNil(msg.Message, msg.Error, strings.TrimSpace(string(out))))
		return nil, &GitLabAPIError{Method: method, URL: u, Status: resp.StatusCode, Message: strings.ReplaceAll(text, p.JobToken, "[job token]")}
	}
	return out, nil
}

func firstNonNil(vs ...any) any {
	for _, v := range vs {
		if v != nil && v != "" {
			return v
		}
	}
	return ""
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
