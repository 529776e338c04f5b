package env

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/skiff-dev/skiff/internal/gitinfo"
)

// Ref describes what is being deployed, for namespace templates, labels and
// protection checks (gitinfo.Detect says what it is).
type Ref = gitinfo.Ref

var (
	invalidRun = regexp.MustCompile(`[^a-z0-9]+`)
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// TemplateData is what namespace and URL templates see.
type TemplateData struct {
	App          string
	Name         string // the environment's name
	Ref          string
	RefSlug      string
	MergeRequest string
	User         string
	Env          map[string]string // environment variables
}

// Expand executes an environment template (namespace, url).
func Expand(tmpl string, data TemplateData) (string, error) {
	t, err := template.New("env").Option("missingkey=error").Funcs(template.FuncMap{
		"env": func(k string) string { return data.Env[k] },
	}).Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("invalid template %q: %v", tmpl, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %q: %v", tmpl, err)
	}
	return b.String(), nil
}

// RefSlug is the ref as it appears in namespace names: the ref itself when it
// is already a valid lower-case label, else its slug with a short hash of the
// ref, so refs that differ only in case or punctuation ("feature/login",
// "feature-login", "Feature_Login"), or only after the 63rd character, never
// share a namespace. Unlike GitLab's CI_COMMIT_REF_SLUG it is injective.
func RefSlug(ref string) string {
	if ref == "" {
		return ""
	}
	return DNSLabel(ref)
}

// DNSLabel turns a name into a valid DNS-1123 label of at most 63
// characters. A name that is already valid is kept. Otherwise it is
// sanitised and gets a suffix of 8 hex digits of the SHA-256 of the original
// name, so two names that sanitise or truncate to the same text still give
// different labels, and the same name always gives the same label.
func DNSLabel(name string) string {
	if len(name) <= 63 && dnsLabel.MatchString(name) {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := hex.EncodeToString(sum[:])[:8]
	base := strings.Trim(invalidRun.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if max := 63 - len(suffix) - 1; len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	if base == "" {
		return "ns-" + suffix
	}
	return base + "-" + suffix
}

// DefaultNamespaceTemplate is used when an environment names no namespace:
// <app>-<env> for long-lived environments, <app>-<env>-<ref> for dynamic ones.
func DefaultNamespaceTemplate(dynamic bool) string {
	if dynamic {
		return "{{.App}}-{{.Name}}-{{.RefSlug}}"
	}
	return "{{.App}}-{{.Name}}"
}

// NamespaceName expands the environment's namespace template and makes the
// result a valid, collision-free DNS label.
func NamespaceName(tmpl string, dynamic bool, data TemplateData) (string, error) {
	if tmpl == "" {
		tmpl = DefaultNamespaceTemplate(dynamic)
	}
	if data.RefSlug == "" {
		data.RefSlug = RefSlug(data.Ref)
	}
	raw, err := Expand(tmpl, data)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(raw) == "" {
		return "", fmt.Errorf("namespace template %q gives an empty name", tmpl)
	}
	return DNSLabel(raw), nil
}
