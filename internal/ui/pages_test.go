package ui

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// rowOf returns the HTML of the environments table row of id.
func rowOf(t *testing.T, html string, id ID) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<tr id="env-` + regexp.QuoteMeta(id.Name+"-"+id.Namespace) + `".*?</tr>`)
	row := re.FindString(html)
	if row == "" {
		t.Fatalf("no row for %s/%s in:\n%s", id.Name, id.Namespace, html)
	}
	return row
}

func TestEnvironmentsPage(t *testing.T) {
	s, ts := testServer(t, example(), false)
	b := open(t, s, ts)
	code, html, h := b.get("/environments")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /environments: %d %s", code, h.Get("Content-Type"))
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q does not restrict scripts", csp)
	}
	tests := []struct {
		id   ID
		want []string
		not  []string
	}{
		{review, []string{"feature/login", "1a2b3c4d", "myapp@sha256:abababababab", "by alice", `href="https://feature-login-df7c7aeb.review.myapp.example.com"`, `id="stop-myapp-feature-login-df7c7aeb"`, "healthy", `datetime="2026-11-23T10:30:00Z"`}, nil},
		{staging, []string{`<a href="https://gitlab.example.com/group/myapp/-/commit/9f8e7d6c5b4a"`, "v1.1.0", "2 <span class=\"status status-deployed\">deployed", "progressing", "1 of 2 updated"}, []string{"javascript:", "Stop"}},
		{production, []string{"v1.0.1", "protected", "group/project:prod-agent", "failed", "ImagePullBackOff"}, []string{"Stop"}},
	}
	for _, tt := range tests {
		row := rowOf(t, html, tt.id)
		for _, w := range tt.want {
			if !strings.Contains(row, w) {
				t.Errorf("row %s: missing %q:\n%s", tt.id.Name, w, row)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(row, n) {
				t.Errorf("row %s: must not contain %q:\n%s", tt.id.Name, n, row)
			}
		}
	}
	// Readable without JavaScript: the table is in the page, with headers
	// and a label per cell for the narrow layout.
	for _, w := range []string{`<th scope="col">Version</th>`, `data-label="Health"`, `<caption>`, `href="#main"`, `data-live="view=environments"`} {
		if !strings.Contains(html, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func TestEnvironmentPage(t *testing.T) {
	s, ts := testServer(t, example(), false)
	b := open(t, s, ts)
	code, html, _ := b.get(envPath(staging))
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", envPath(staging), code, html)
	}
	for _, w := range []string{
		`id="revision-2"`, `id="revision-1"`, "current", // history, newest first
		`href="/environments/staging/myapp-staging/rollback?revision=1"`, // roll back to an older revision
		`href="/environments/staging/myapp-staging/diff?from=1&amp;to=2"`,
		"Deployment.apps myapp-staging/myapp", "InProgress", // inventory with kstatus
		`<label for="diff-from">`, `name="from"`, `value="1"`, `value="2"`,
	} {
		if !strings.Contains(html, w) {
			t.Errorf("environment page lacks %q", w)
		}
	}
	if strings.Index(html, `id="revision-2"`) > strings.Index(html, `id="revision-1"`) {
		t.Error("history is not newest first")
	}
	if strings.Contains(html, "rollback?revision=2") {
		t.Error("offers a rollback to the current revision")
	}
	if code, _, _ := b.get("/environments/staging/nope"); code != http.StatusNotFound {
		t.Errorf("unknown environment: %d, want 404", code)
	}
}

func TestDiffPage(t *testing.T) {
	f := example()
	f.diffs = []ObjectDiff{
		{Object: "Deployment.apps myapp-staging/myapp", Change: DiffChanged, Unified: "-image: a\n+image: <b>"},
		{Object: "ConfigMap myapp-staging/settings", Change: DiffUnchanged},
	}
	s, ts := testServer(t, f, false)
	b := open(t, s, ts)
	code, html, _ := b.get(envPath(staging) + "/diff?from=1&to=2")
	if code != http.StatusOK {
		t.Fatalf("diff: %d", code)
	}
	for _, w := range []string{"1 of 2 objects differ", `<span class="add">&#43;image: &lt;b&gt;</span>`, `<span class="del">-image: a</span>`, "ConfigMap myapp-staging/settings", "Secret values are not shown"} {
		if !strings.Contains(html, w) {
			t.Errorf("diff page lacks %q:\n%s", w, html)
		}
	}
	for _, q := range []string{"from=x&to=2", "from=0&to=1", "to=2", "from=1&to=2x"} {
		if code, _, _ := b.get(envPath(staging) + "/diff?" + q); code != http.StatusBadRequest {
			t.Errorf("diff?%s: %d, want 400", q, code)
		}
	}
}

func TestReleasesPage(t *testing.T) {
	s, ts := testServer(t, example(), false)
	b := open(t, s, ts)
	code, html, _ := b.get("/releases")
	if code != http.StatusOK {
		t.Fatalf("releases: %d", code)
	}
	row := regexp.MustCompile(`(?s)<tr id="release-v1.1.0".*?</tr>`).FindString(html)
	for _, w := range []string{"9f8e7d6c", "sha256:cdcdcdcdcdcd", "staging, production", `<a href="/environments/staging/myapp-staging">staging</a>`, "- fix login"} {
		if !strings.Contains(row, w) {
			t.Errorf("release row lacks %q:\n%s", w, row)
		}
	}
	if strings.Contains(row, `href="/environments/production/myapp"`) {
		t.Error("v1.1.0 is shown as deployed to production, which runs v1.0.1")
	}
}
