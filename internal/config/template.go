package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

var missingKey = regexp.MustCompile(`map has no entry for key "([^"]+)"`)

// ExpandTemplate executes a Go template over vars (environment variables and,
// where the caller adds them, values like IMAGE_NAME). A reference to a
// missing variable is an error naming it. Besides the variables, templates can
// call default ("{{default "x" (env "FOO")}}") and env.
func ExpandTemplate(s string, vars map[string]string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	funcs := template.FuncMap{
		"default": func(def string, v any) string {
			if str, ok := v.(string); ok && str != "" {
				return str
			}
			return def
		},
		"env": func(k string) string { return vars[k] },
	}
	t, err := template.New("field").Option("missingkey=error").Funcs(funcs).Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid template %q: %v", s, trimTemplateErr(err))
	}
	var b strings.Builder
	if err := t.Execute(&b, vars); err != nil {
		if m := missingKey.FindStringSubmatch(err.Error()); m != nil {
			return "", fmt.Errorf("template %q uses environment variable %s, which is not set; set it or use {{default \"value\" (env %q)}}", s, m[1], m[1])
		}
		return "", fmt.Errorf("template %q: %v", s, trimTemplateErr(err))
	}
	return b.String(), nil
}

func trimTemplateErr(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "template: ") {
		return msg[i+2:]
	}
	return msg
}

// expandTemplatesIn expands the load-time template fields of a config node.
func expandTemplatesIn(doc *yaml.Node, file string, vars map[string]string) error {
	return walkTagged(doc, reflect.TypeOf(Config{}), "", func(t fieldTags) bool { return t.template }, func(n *yaml.Node, _ field, path string) error {
		v, err := ExpandTemplate(n.Value, vars)
		if err != nil {
			return &Error{File: file, Line: n.Line, Column: n.Column, Path: path, Msg: err.Error()}
		}
		n.Value = v
		return nil
	})
}
