package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// applyPatch applies one JSON patch (RFC 6902) operation to the document
// node. Values keep their source positions so later errors point into the
// profile that introduced them.
func applyPatch(doc *yaml.Node, p JSONPatch) error {
	op := p.Op
	if op == "" {
		op = "replace"
	}
	path, err := parsePointer(p.Path)
	if err != nil {
		return err
	}
	switch op {
	case "add", "replace", "test":
		if p.Value.Kind == 0 {
			return fmt.Errorf("%s needs a value", op)
		}
		v := deepCopy(&p.Value)
		switch op {
		case "add":
			return addAt(doc, path, v)
		case "replace":
			return replaceAt(doc, path, v)
		default:
			cur, err := getAt(doc, path)
			if err != nil {
				return err
			}
			if !sameValue(cur, v) {
				return fmt.Errorf("test failed: %s is not the given value", p.Path)
			}
			return nil
		}
	case "remove":
		_, err := removeAt(doc, path)
		return err
	case "move", "copy":
		from, err := parsePointer(p.From)
		if err != nil {
			return fmt.Errorf("from: %w", err)
		}
		var v *yaml.Node
		if op == "move" {
			v, err = removeAt(doc, from)
		} else {
			var cur *yaml.Node
			cur, err = getAt(doc, from)
			v = deepCopy(cur)
		}
		if err != nil {
			return fmt.Errorf("from: %w", err)
		}
		return addAt(doc, path, v)
	}
	return fmt.Errorf("unknown op %q; use add, remove, replace, move, copy or test", op)
}

// parsePointer splits a JSON pointer into unescaped tokens.
func parsePointer(s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("empty path; a path looks like /build/artifacts/0/docker/dockerfile")
	}
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("path %q must start with /", s)
	}
	parts := strings.Split(s[1:], "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

func pointerString(tokens []string) string {
	return "/" + strings.Join(tokens, "/")
}

// getAt returns the node at path.
func getAt(doc *yaml.Node, path []string) (*yaml.Node, error) {
	cur := doc
	for i, tok := range path {
		next, err := child(cur, tok)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pointerString(path[:i+1]), err)
		}
		cur = next
	}
	return cur, nil
}

func child(n *yaml.Node, tok string) (*yaml.Node, error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		if v := mappingGet(n, tok); v != nil {
			return v, nil
		}
		return nil, fmt.Errorf("does not exist in the configuration")
	case yaml.SequenceNode:
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(n.Content) {
			return nil, fmt.Errorf("no list item %q (the list has %d)", tok, len(n.Content))
		}
		return n.Content[i], nil
	}
	return nil, fmt.Errorf("does not exist in the configuration")
}

func parentOf(doc *yaml.Node, path []string) (*yaml.Node, string, error) {
	if len(path) == 0 {
		return nil, "", fmt.Errorf("cannot patch the whole document")
	}
	parent, err := getAt(doc, path[:len(path)-1])
	if err != nil {
		return nil, "", err
	}
	if parent.Kind == yaml.AliasNode {
		parent = parent.Alias
	}
	return parent, path[len(path)-1], nil
}

func addAt(doc *yaml.Node, path []string, v *yaml.Node) error {
	parent, last, err := parentOf(doc, path)
	if err != nil {
		return err
	}
	switch parent.Kind {
	case yaml.MappingNode:
		mappingSet(parent, last, v)
		return nil
	case yaml.SequenceNode:
		if last == "-" {
			parent.Content = append(parent.Content, v)
			return nil
		}
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i > len(parent.Content) {
			return fmt.Errorf("%s: no list position %q (the list has %d)", pointerString(path), last, len(parent.Content))
		}
		parent.Content = append(parent.Content[:i], append([]*yaml.Node{v}, parent.Content[i:]...)...)
		return nil
	}
	return fmt.Errorf("%s: the parent is not a mapping or a list", pointerString(path))
}

func replaceAt(doc *yaml.Node, path []string, v *yaml.Node) error {
	parent, last, err := parentOf(doc, path)
	if err != nil {
		return err
	}
	if _, err := child(parent, last); err != nil {
		return fmt.Errorf("%s: %w", pointerString(path), err)
	}
	if parent.Kind == yaml.MappingNode {
		mappingSet(parent, last, v)
		return nil
	}
	i, _ := strconv.Atoi(last)
	parent.Content[i] = v
	return nil
}

func removeAt(doc *yaml.Node, path []string) (*yaml.Node, error) {
	parent, last, err := parentOf(doc, path)
	if err != nil {
		return nil, err
	}
	v, err := child(parent, last)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pointerString(path), err)
	}
	if parent.Kind == yaml.MappingNode {
		mappingDelete(parent, last)
		return v, nil
	}
	i, _ := strconv.Atoi(last)
	parent.Content = append(parent.Content[:i], parent.Content[i+1:]...)
	return v, nil
}

func deepCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = deepCopy(k)
	}
	return &c
}

func sameValue(a, b *yaml.Node) bool {
	var va, vb any
	if a.Decode(&va) != nil || b.Decode(&vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
