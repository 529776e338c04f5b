package pipeline

import (
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
