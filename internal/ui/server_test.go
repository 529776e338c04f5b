package ui

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testServer serves src (and acts through it unless readOnly) on loopback.
func testServer(t *testing.T, src *fakeSource, readOnly bool) (*Server, *httptest.Server) {
	t.Helper()
	opts := Options{App: "myapp", Source: src, ReadOnly: readOnly, Debounce: 10 * time.Millisecond, Logf: t.Logf}
	if !readOnly {
		opts.Actions = src
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	opts.Listen = ts.Listener.Addr().String()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = s
	t.Cleanup(func() { s.Close(); ts.Close() })
	return s, ts
}

// browser is an HTTP client with a cookie jar, like a browser tab.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, ts *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, base: ts.URL}
}

// open opens the address skiff ui prints and follows its redirect.
func open(t *testing.T, s *Server, ts *httptest.Server) *browser {
	b := newBrowser(t, ts)
	code, _, h := b.get(strings.TrimPrefix(s.URL(ts.URL), ts.URL))
	if code != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("opening the printed address: %d, Location %q", code, h.Get("Location"))
	}
	return b
}

func (b *browser) do(req *http.Request) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header ...string) (int, string, http.Header) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var tokenRE = regexp.MustCompile(`name="token" value="([0-9a-f]+)"`)

func tokenIn(t *testing.T, html string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no token in the page:\n%s", html)
	}
	return m[1]
}

var (
	review     = ID{Name: "review", Namespace: "myapp-feature-login-df7c7aeb"}
	staging    = ID{Name: "staging", Namespace: "myapp-staging"}
	production = ID{Name: "production", Namespace: "myapp"}
	deployed   = time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)
)

// example is the example project's three environments, deployed.
func example() *fakeSource {
	f := newFake()
	digest := "127.0.0.1:5000/myapp@sha256:" + strings.Repeat("ab", 32)
	f.envs = []Environment{
		{ID: review, Dynamic: true, Configured: true, Exists: true, Ref: "feature/login", Revision: 1, Status: "deployed", Version: "1a2b3c4d", Commit: "1a2b3c4d5e6f", Images: []string{digest}, DeployedAt: deployed, DeployedBy: "alice", Health: Health{State: "healthy"}, ExpiresAt: deployed.Add(72 * time.Hour), URL: "https://feature-login-df7c7aeb.review.myapp.example.com"},
		{ID: staging, Configured: true, Exists: true, Revision: 2, Status: "deployed", Version: "v1.1.0", Commit: "9f8e7d6c5b4a", CommitURL: "https://gitlab.example.com/group/myapp/-/commit/9f8e7d6c5b4a", Images: []string{digest}, DeployedAt: deployed, DeployedBy: "ci", Health: Health{State: "progressing", Detail: "Deployment myapp-staging/myapp: 1 of 2 updated"}, URL: "javascript:alert(1)"},
		{ID: production, Context: "group/project:prod-agent", Protected: true, RequireTag: "v*", ApprovalRequired: true, Configured: true, Exists: true, Revision: 2, Status: "failed", Version: "v1.0.1", Health: Health{State: "failed", Detail: "pod myapp-1: ImagePullBackOff"}, URL: "https://myapp.example.com"},
	}
	f.history[staging] = []Revision{
		{Revision: 1, Status: "deployed", Version: "v1.0.0", Time: deployed.Add(-time.Hour), By: "ci", Description: "release 127.0.0.1:5000/myapp/releases@sha256:…"},
		{Revision: 2, Status: "deployed", Version: "v1.1.0", Time: deployed, By: "ci"},
	}
	f.history[production] = []Revision{{Revision: 1, Status: "deployed", Version: "v1.0.0"}, {Revision: 2, Status: "failed", Message: "timed out", Version: "v1.0.1"}}
	f.objects[staging] = []Object{{Kind: "Deployment.apps", Namespace: "myapp-staging", Name: "myapp", Status: "InProgress", Message: "1 of 2 updated"}}
	f.releases = []Release{{Tag: "v1.1.0", Commit: "9f8e7d6c5b4a", Ref: "127.0.0.1:5000/myapp/releases@sha256:" + strings.Repeat("cd", 32), Created: deployed, Environments: []string{"staging", "production"}, Changelog: "- fix login"}}
	return f
}

func TestAccessNeedsTheKey(t *testing.T) {
	s, ts := testServer(t, example(), false)
	b := newBrowser(t, ts)
	for _, path := range []string{"/environments", "/releases", envPath(staging), "/events?view=environments", "/?key=wrong"} {
		if code, body, _ := b.get(path); code != http.StatusUnauthorized || strings.Contains(body, "v1.1.0") {
			t.Errorf("GET %s without the key: %d (want 401, nothing shown)", path, code)
		}
	}
	if code, _, _ := b.post(envPath(staging)+"/rollback", url.Values{"revision": {"1"}}); code != http.StatusUnauthorized {
		t.Errorf("POST without a session: %d, want 401", code)
	}
	b = open(t, s, ts)
	if code, body, _ := b.get("/environments"); code != http.StatusOK || !strings.Contains(body, "v1.1.0") {
		t.Errorf("after opening the printed address: %d", code)
	}
}

func TestHostMustBeLoopback(t *testing.T) {
	s, ts := testServer(t, example(), false)
	b := open(t, s, ts)
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/environments", nil)
	req.Host = "rebind.attacker.example:80"
	if code, _, _ := b.do(req); code != http.StatusMisdirectedRequest {
		t.Errorf("a foreign Host on a loopback server: %d, want 421", code)
	}
	// Cookies are per host name: localhost opens its own session.
	req, _ = http.NewRequest(http.MethodGet, s.URL(ts.URL), nil)
	req.Host = "localhost" + ts.URL[strings.LastIndexByte(ts.URL, ':'):]
	if code, _, _ := b.do(req); code != http.StatusSeeOther {
		t.Errorf("the printed address with Host localhost: %d, want 303", code)
	}
}

func TestListenLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "localhost:1": true, "[::1]:80": true, ":8080": false, "0.0.0.0:80": false, "192.0.2.1:80": false} {
		if got := ListenLoopback(addr); got != want {
			t.Errorf("ListenLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
