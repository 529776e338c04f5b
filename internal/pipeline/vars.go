package pipeline

import (
	"os"
	"regexp"
	"strings"
)

// String renders the command as a POSIX shell line in which variable
// references still expand: skiff env deploy review --ref "$CI_COMMIT_REF_NAME".
func (c Command) String() string {
	parts := make([]string, len(c))
	for i, a := range c {
		parts[i] = ShellQuote(a)
	}
	return strings.Join(parts, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// ShellQuote quotes an argument for a POSIX shell. Arguments that reference
// variables are double-quoted so the references expand (and nothing else
// does); other arguments are single-quoted unless they need no quoting.
func ShellQuote(s string) string {
	switch {
	case shellSafe.MatchString(s):
		return s
	case len(VarRefs(s)) > 0:
		// Inside double quotes only the references may expand: escape
		// everything else the shell would interpret ($(…), `…`, \, ").
		esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", "$", `\$`)
		var b strings.Builder
		b.WriteByte('"')
		last := 0
		for _, m := range varRef.FindAllStringIndex(s, -1) {
			b.WriteString(esc.Replace(s[last:m[0]]))
			b.WriteString(s[m[0]:m[1]])
			last = m[1]
		}
		b.WriteString(esc.Replace(s[last:]))
		b.WriteByte('"')
		return b.String()
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var varRef = regexp.MustCompile(`\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})`)

// VarRefs lists the variables s references as $NAME or ${NAME}, in order.
func VarRefs(s string) []string {
	var out []string
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

// ReplaceVars replaces each $NAME or ${NAME} in s with repl(NAME).
func ReplaceVars(s string, repl func(name string) string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		return repl(sub[1] + sub[2])
	})
}

// ExpandVars replaces variable references in s with their values from vars;
// unset variables expand to "" as in a shell.
func ExpandVars(s string, vars map[string]string) string {
	return os.Expand(s, func(k string) string { return vars[k] })
}
