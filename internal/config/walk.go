package config

import (
	"path/filepath"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// visitFunc is called for each scalar leaf of a tagged field; it may rewrite
// the node's value in place.
type visitFunc func(n *yaml.Node, f field, path string) error

// walkTagged visits the scalar leaves of every field of type t in n whose
// tags satisfy want, descending through structs, lists and maps.
func walkTagged(n *yaml.Node, t reflect.Type, path string, want func(fieldTags) bool, fn visitFunc) error {
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && t != nodeType && n.Kind == yaml.MappingNode && !reflect.PointerTo(t).Implements(unmarshalerType):
		fields := fieldsOf(t)
		for _, kv := range mappingPairs(n) {
			f, ok := lookupField(fields, kv[0].Value)
			if !ok {
				continue
			}
			fpath := joinPath(path, kv[0].Value)
			if want(f.tags) {
				if err := eachLeaf(kv[1], f, fpath, fn); err != nil {
					return err
				}
				continue
			}
			if err := walkTagged(kv[1], f.typ, fpath, want, fn); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			if err := walkTagged(item, t.Elem(), indexPath(path, i), want, fn); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for _, kv := range mappingPairs(n) {
			if err := walkTagged(kv[1], t.Elem(), joinPath(path, kv[0].Value), want, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// eachLeaf calls fn on every scalar under n.
func eachLeaf(n *yaml.Node, f field, path string, fn visitFunc) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) {
			return nil
		}
		return fn(n, f, path)
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if err := eachLeaf(item, f, indexPath(path, i), fn); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for _, kv := range mappingPairs(n) {
			if err := eachLeaf(kv[1], f, joinPath(path, kv[0].Value), fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolvePathsIn rewrites relative paths of a config pulled in through
// requires so they are relative to the working directory, as Skaffold
// resolves them against the required file's own directory.
func resolvePathsIn(doc *yaml.Node, dir string) error {
	if dir == "" || dir == "." {
		return nil
	}
	return walkTagged(doc, reflect.TypeOf(Config{}), "", func(t fieldTags) bool { return t.path }, func(n *yaml.Node, _ field, _ string) error {
		n.Value = joinDir(dir, n.Value)
		return nil
	})
}

func joinDir(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
		return p
	}
	return filepath.Join(dir, p)
}
