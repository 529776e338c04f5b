package pipeline

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"build.json", "build.json"},
		{"group/project:agent", "group/project:agent"},
		{"$CI_COMMIT_TAG", `"$CI_COMMIT_TAG"`},
		{"${CI_COMMIT_TAG}-x", `"${CI_COMMIT_TAG}-x"`},
		{`a "b" $X`, `"a \"b\" $X"`},
		{"go test ./...", `'go test ./...'`},
		{"it's", `'it'\''s'`},
		{"`id`", "'`id`'"},
		{"$(id) $X", `"\$(id) $X"`},
		{"$X$", `"$X\$"`},
	}
	for _, tt := range tests {
		if got := ShellQuote(tt.in); got != tt.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// A command line must give the shell exactly the arguments the local
// executor passes after expanding variables itself.
func TestShellLineMatchesExpansion(t *testing.T) {
	vars := map[string]string{"CI_COMMIT_TAG": "v1.0.0", "REF": "feature/a b"}
	cmd := Command{"skiff", "env", "deploy", "x", "--ref", "$REF", "--tag", "${CI_COMMIT_TAG}", "it's", "a\"b", "*", "$(id) `id` $REF"}
	line := Command(append(Command{"printf", `%s\n`}, cmd[1:]...)).String()
	c := exec.Command("sh", "-c", line)
	c.Env = []string{"CI_COMMIT_TAG=v1.0.0", "REF=feature/a b"}
	out, err := c.Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range cmd[1:] {
		want = append(want, ExpandVars(a, vars))
	}
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("sh -c %s gave %q, the executor passes %q", line, got, want)
	}
}

func TestRefSlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"main", "main"},
		{"feature/Login_Page", "feature-login-page"},
		{"v1.2.0", "v1-2-0"},
		{"--x--", "x"},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
		{strings.Repeat("a", 62) + "/b", strings.Repeat("a", 62)},
	}
	for _, tt := range tests {
		if got := RefSlug(tt.in); got != tt.want {
			t.Errorf("RefSlug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCIURL(t *testing.T) {
	gitlab := URLVars{Ref: "$CI_COMMIT_REF_NAME", RefSlug: "$CI_COMMIT_REF_SLUG", MergeRequest: "$CI_MERGE_REQUEST_IID", User: "$GITLAB_USER_LOGIN", Env: func(k string) string { return "$" + k }}
	noSlug := gitlab
	noSlug.RefSlug = ""
	tests := []struct {
		tmpl string
		vars URLVars
		want string
		err  string
	}{
		{"https://{{.RefSlug}}.{{.App}}.example.com", gitlab, "https://$CI_COMMIT_REF_SLUG.myapp.example.com", ""},
		{"https://{{.Name}}-{{.MergeRequest}}.example.com/{{env \"PATH_PREFIX\"}}", gitlab, "https://review-$CI_MERGE_REQUEST_IID.example.com/$PATH_PREFIX", ""},
		{"https://example.com", gitlab, "https://example.com", ""},
		{"", gitlab, "", ""},
		{"https://{{.RefSlug}}.example.com", noSlug, "", "not expressible"},
		{"https://{{.Nope}}.example.com", gitlab, "", "can't evaluate field Nope"},
		{"https://{{.App", gitlab, "", "invalid url template"},
	}
	for _, tt := range tests {
		got, err := CIURL(tt.tmpl, "myapp", "review", tt.vars)
		if tt.err == "" && (err != nil || got != tt.want) {
			t.Errorf("CIURL(%q) = %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("CIURL(%q) error = %v, want %q", tt.tmpl, err, tt.err)
		}
	}
	if _, err := CIURL("{{.RefSlug}}", "a", "b", noSlug); !errors.Is(err, ErrNotExpressible) {
		t.Errorf("error %v is not ErrNotExpressible", err)
	}
}
