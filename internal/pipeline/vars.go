package pipeline

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"
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

var slugInvalid = regexp.MustCompile(`[^a-z0-9]+`)

// RefSlug is GitLab's CI_COMMIT_REF_SLUG of ref: lower case, runs of
// characters outside [a-z0-9] replaced by "-", at most 63 characters, no
// leading or trailing "-".
func RefSlug(ref string) string {
	s := slugInvalid.ReplaceAllString(strings.ToLower(ref), "-")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-")
}

// URLVars are what an environment's url template's fields become in a CI
// configuration: variable references or expressions of that CI system.
// An empty field is one the CI system cannot express.
type URLVars struct {
	Ref, RefSlug, MergeRequest, User string
	// Env turns {{env "NAME"}} into the CI system's reference to NAME.
	Env func(name string) string
}

// ErrNotExpressible is returned by CIURL when the template uses a field the
// CI system has no equivalent for.
var ErrNotExpressible = fmt.Errorf("not expressible in this CI system")

// CIURL rewrites an environment's url template (a Go template over .App,
// .Name, .Ref, .RefSlug, .MergeRequest, .User and env) for a CI
// configuration, where the ref and merge request are only known when the
// pipeline runs.
func CIURL(tmpl, app, env string, v URLVars) (string, error) {
	if tmpl == "" {
		return "", nil
	}
	d := &urlData{app: app, name: env, v: v}
	t, err := template.New("url").Funcs(template.FuncMap{
		"env": func(k string) string { return d.use(v.Env(k)) },
	}).Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("environment %q: invalid url template %q: %v", env, tmpl, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("environment %q: url template %q: %v", env, tmpl, err)
	}
	if d.missing {
		return "", ErrNotExpressible
	}
	return b.String(), nil
}

// urlData is the url template's data; its methods record fields the CI
// system cannot express.
type urlData struct {
	app, name string
	v         URLVars
	missing   bool
}

func (d *urlData) use(s string) string {
	if s == "" {
		d.missing = true
	}
	return s
}

func (d *urlData) App() string          { return d.app }
func (d *urlData) Name() string         { return d.name }
func (d *urlData) Ref() string          { return d.use(d.v.Ref) }
func (d *urlData) RefSlug() string      { return d.use(d.v.RefSlug) }
func (d *urlData) MergeRequest() string { return d.use(d.v.MergeRequest) }
func (d *urlData) User() string         { return d.use(d.v.User) }
