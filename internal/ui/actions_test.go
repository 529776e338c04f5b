package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRollbackNeedsTheSessionToken(t *testing.T) {
	f := example()
	s, ts := testServer(t, f, false)
	b := open(t, s, ts)
	code, html, _ := b.get(envPath(staging) + "/rollback?revision=1")
	if code != http.StatusOK || !strings.Contains(html, "Roll back staging to revision 1?") {
		t.Fatalf("confirmation page: %d\n%s", code, html)
	}
	token := tokenIn(t, html)
	path := envPath(staging) + "/rollback"

	refused := []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{"revision": {"1"}}, nil},
		{"wrong token", url.Values{"revision": {"1"}, "token": {strings.Repeat("0", len(token))}}, nil},
		{"token in the query", nil, nil},
		{"another site's form", url.Values{"revision": {"1"}, "token": {token}}, []string{"Origin", "https://attacker.example"}},
		{"cross-site fetch", url.Values{"revision": {"1"}, "token": {token}}, []string{"Sec-Fetch-Site", "cross-site"}},
	}
	for _, tt := range refused {
		p := path
		if tt.form == nil {
			p += "?revision=1&token=" + token
		}
		if code, _, _ := b.post(p, tt.form, tt.header...); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tt.name, code)
		}
	}
	// Another browser's session has its own token.
	other := open(t, s, ts)
	if code, _, _ := other.post(path, url.Values{"revision": {"1"}, "token": {token}}); code != http.StatusForbidden {
		t.Errorf("another session's token: %d, want 403", code)
	}
	if rb, _ := f.calls(); len(rb) != 0 {
		t.Fatalf("refused requests rolled back: %+v", rb)
	}

	code, _, h := b.post(path, url.Values{"revision": {"1"}, "token": {token}}, "Origin", ts.URL, "Sec-Fetch-Site", "same-origin")
	if code != http.StatusSeeOther || h.Get("Location") != envPath(staging) {
		t.Fatalf("confirmed rollback: %d to %q", code, h.Get("Location"))
	}
	if rb, _ := f.calls(); len(rb) != 1 || rb[0] != (rollbackCall{staging, 1, false}) {
		t.Fatalf("rollbacks: %+v", rb)
	}
	_, html, _ = b.get(envPath(staging))
	if !strings.Contains(html, "rolled back to revision 1") {
		t.Error("the environment page does not say what the rollback did")
	}
}

func TestRollbackOfAProtectedEnvironmentAsksForApproval(t *testing.T) {
	f := example()
	s, ts := testServer(t, f, false)
	b := open(t, s, ts)
	_, html, _ := b.get(envPath(production) + "/rollback?revision=1")
	for _, w := range []string{`<input type="checkbox" id="approve" name="approve" value="yes" required>`, `<label for="approve">`, "matching <code>v*</code>"} {
		if !strings.Contains(html, w) {
			t.Errorf("confirmation lacks %q", w)
		}
	}
	token := tokenIn(t, html)
	b.post(envPath(production)+"/rollback", url.Values{"revision": {"1"}, "token": {token}})
	b.post(envPath(production)+"/rollback", url.Values{"revision": {"1"}, "token": {token}, "approve": {"yes"}})
	rb, _ := f.calls()
	if len(rb) != 2 || rb[0].Approved || !rb[1].Approved {
		t.Fatalf("approval not passed on as given: %+v", rb)
	}
	if code, _, _ := b.get(envPath(production) + "/rollback?revision=9"); code != http.StatusNotFound {
		t.Errorf("rollback to a revision that does not exist: %d, want 404", code)
	}
}

func TestActionFailureIsShown(t *testing.T) {
	f := example()
	f.failWith = errors.New("environment production requires approval: pass --approve")
	s, ts := testServer(t, f, false)
	b := open(t, s, ts)
	_, html, _ := b.get(envPath(production) + "/rollback?revision=1")
	b.post(envPath(production)+"/rollback", url.Values{"revision": {"1"}, "token": {tokenIn(t, html)}})
	_, html, _ = b.get(envPath(production))
	if !strings.Contains(html, "Rollback to revision 1 failed: environment production requires approval") {
		t.Errorf("the failure is not shown:\n%s", html)
	}
}

func TestStop(t *testing.T) {
	f := example()
	s, ts := testServer(t, f, false)
	b := open(t, s, ts)
	if code, _, _ := b.get(envPath(staging) + "/stop"); code != http.StatusConflict {
		t.Errorf("stopping staging: %d, want 409 (not dynamic)", code)
	}
	code, html, _ := b.get(envPath(review) + "/stop")
	if code != http.StatusOK || !strings.Contains(html, "Stop review for feature/login?") {
		t.Fatalf("confirmation: %d\n%s", code, html)
	}
	if code, _, _ := b.post(envPath(review)+"/stop", url.Values{}); code != http.StatusForbidden {
		t.Errorf("stop without token: %d, want 403", code)
	}
	code, _, h := b.post(envPath(review)+"/stop", url.Values{"token": {tokenIn(t, html)}})
	if code != http.StatusSeeOther || h.Get("Location") != "/environments" {
		t.Fatalf("stop: %d to %q", code, h.Get("Location"))
	}
	if _, stops := f.calls(); len(stops) != 1 || stops[0] != review {
		t.Fatalf("stops: %+v", stops)
	}
}

func TestReadOnlyHidesAndRefusesActions(t *testing.T) {
	f := example()
	s, ts := testServer(t, f, true)
	b := open(t, s, ts)
	for _, path := range []string{"/environments", envPath(staging), envPath(review)} {
		code, html, _ := b.get(path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		for _, n := range []string{"/rollback", "/stop", `name="token"`} {
			if strings.Contains(html, n) {
				t.Errorf("read-only %s shows %q", path, n)
			}
		}
		if !strings.Contains(html, "read-only") {
			t.Errorf("read-only %s does not say so", path)
		}
	}
	for _, path := range []string{envPath(staging) + "/rollback?revision=1", envPath(review) + "/stop"} {
		if code, _, _ := b.get(path); code != http.StatusForbidden {
			t.Errorf("read-only GET %s: %d, want 403", path, code)
		}
	}
	// Even with a valid session and token from before, nothing changes.
	se := s.sessions.start()
	for _, path := range []string{envPath(staging) + "/rollback", envPath(review) + "/stop"} {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(url.Values{"revision": {"1"}, "token": {se.token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: se.id})
		if code, _, _ := b.do(req); code != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d, want 403", path, code)
		}
	}
	if rb, stops := f.calls(); len(rb)+len(stops) != 0 {
		t.Fatalf("read-only mode acted: %+v %+v", rb, stops)
	}
}
