package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// checker validates a YAML node tree against the schema types before it is
// decoded, so that every mistake is reported with its position and field
// path instead of as a decoder message about Go types.
type checker struct {
	file  string
	skiff bool // a skiff/v1 document: skiff-only fields are allowed
	// effective says the node is configuration that takes effect: the
	// document after profiles, or a profile being activated. Only then are
	// fields skiff does not support rejected, so an inactive profile may
	// hold them (Skaffold projects often keep a Cloud Build profile).
	effective bool
	// warnings collects accepted fields that have no effect; nil collects
	// none (the same field is checked more than once while loading).
	warnings *[]string
}

func (c *checker) errorf(n *yaml.Node, path, format string, args ...any) *Error {
	e := &Error{File: c.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

func (c *checker) warnf(n *yaml.Node, path, format string, args ...any) {
	if c.warnings == nil {
		return
	}
	*c.warnings = append(*c.warnings, c.errorf(n, path, format, args...).Error())
}

// check validates n as a value of type t at path.
func (c *checker) check(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return nil
	}
	if t == nodeType {
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return c.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return c.check(n, t.Elem(), path)
	case reflect.Struct:
		return c.checkStruct(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return c.errorf(n, path, "expected a list, got %s", describe(n))
		}
		for i, item := range n.Content {
			if err := c.check(item, t.Elem(), indexPath(path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return c.errorf(n, path, "expected a mapping, got %s", describe(n))
		}
		seen := map[string]bool{}
		for _, kv := range mappingPairs(n) {
			if seen[kv[0].Value] {
				return c.errorf(kv[0], joinPath(path, kv[0].Value), "duplicate key")
			}
			seen[kv[0].Value] = true
			if err := c.check(kv[1], t.Elem(), joinPath(path, kv[0].Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return c.errorf(n, path, "expected a string, got %s", describe(n))
		}
		return nil
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			return c.errorf(n, path, "expected true or false, got %s", describe(n))
		}
		return nil
	case reflect.Int, reflect.Int32, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			return c.errorf(n, path, "expected an integer, got %s", describe(n))
		}
		return nil
	}
	return c.errorf(n, path, "internal error: no check for Go type %s", t)
}

func (c *checker) checkStruct(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind != yaml.MappingNode {
		return c.errorf(n, path, "expected a mapping, got %s", describe(n))
	}
	fields := fieldsOf(t)
	seen := map[string]bool{}
	groups := map[string]string{} // oneOf group → key set
	for _, kv := range mappingPairs(n) {
		k, v := kv[0], kv[1]
		fpath := joinPath(path, k.Value)
		if seen[k.Value] {
			return c.errorf(k, fpath, "duplicate key")
		}
		seen[k.Value] = true
		f, ok := lookupField(fields, k.Value)
		if !ok {
			msg := fmt.Sprintf("unknown field %q", k.Value)
			if s := suggest(k.Value, fieldKeys(fields)); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else if path == "" {
				msg += "; check the apiVersion and the field's indentation"
			}
			return c.errorf(k, fpath, "%s", msg)
		}
		if f.tags.skiffOnly && !c.skiff {
			return c.errorf(k, fpath, "only allowed in apiVersion skiff/v1 files; rename the file's apiVersion to skiff/v1 or move the section to skiff.yaml")
		}
		if isNull(v) {
			continue
		}
		if f.tags.unsupported != "" && c.effective {
			return c.errorf(k, fpath, "not supported by skiff: %s", f.tags.unsupported)
		}
		if f.tags.oneOf != "" {
			if other, dup := groups[f.tags.oneOf]; dup {
				return c.errorf(k, fpath, "cannot be set together with %q; only one of %s may be set", other, strings.Join(groupKeys(fields, f.tags.oneOf), ", "))
			}
			groups[f.tags.oneOf] = k.Value
		}
		if err := c.check(v, f.typ, fpath); err != nil {
			return err
		}
		if err := c.checkValue(v, f, fpath); err != nil {
			return err
		}
		if f.tags.ignored != "" {
			c.warnf(k, fpath, "has no effect in skiff: %s", f.tags.ignored)
		}
	}
	for _, f := range fields {
		if f.tags.required && !seen[f.key] {
			return c.errorf(n, path, "missing required field %q", f.key)
		}
	}
	return nil
}

// checkValue applies the enum and duration constraints of a scalar field.
func (c *checker) checkValue(v *yaml.Node, f field, path string) error {
	if v.Kind != yaml.ScalarNode {
		return nil
	}
	if len(f.tags.enum) > 0 && v.Value != "" && !slices.Contains(f.tags.enum, v.Value) {
		return c.errorf(v, path, "%q is not one of %s", v.Value, strings.Join(f.tags.enum, ", "))
	}
	if f.tags.duration && v.Value != "" {
		if _, err := ParseDuration(v.Value); err != nil {
			return c.errorf(v, path, "%v", err)
		}
	}
	return nil
}

func groupKeys(fields []field, group string) []string {
	var keys []string
	for _, f := range fields {
		if f.tags.oneOf == group {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// describe names the kind of a node for type errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected value"
}
