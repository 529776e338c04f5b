package ciyaml

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Map is a YAML mapping whose keys keep their insertion order.
type Map struct{ node *yaml.Node }

// NewMap returns an empty mapping.
func NewMap() *Map { return &Map{node: &yaml.Node{Kind: yaml.MappingNode}} }

// Set appends key with value v (a string, bool, int, []string, *Map or
// *yaml.Node) and returns m. Empty values are set too; use SetIf to skip
// them.
func (m *Map) Set(key string, v any) *Map {
	m.node.Content = append(m.node.Content, Str(key), Node(v))
	return m
}

// SetIf sets key unless v is the zero value of its type, an empty list or
// an empty mapping.
func (m *Map) SetIf(key string, v any) *Map {
	switch x := v.(type) {
	case string:
		if x == "" {
			return m
		}
	case bool:
		if !x {
			return m
		}
	case []string:
		if len(x) == 0 {
			return m
		}
	case *Map:
		if x == nil || len(x.node.Content) == 0 {
			return m
		}
	case *yaml.Node:
		if x == nil || len(x.Content) == 0 && x.Kind != yaml.ScalarNode {
			return m
		}
	}
	return m.Set(key, v)
}

// Len is the number of keys.
func (m *Map) Len() int { return len(m.node.Content) / 2 }

// Node is the mapping's YAML node.
func (m *Map) Node() *yaml.Node { return m.node }

// Node turns a Go value into a YAML node; strings are always strings, even
// when they look like numbers or booleans.
func Node(v any) *yaml.Node {
	switch x := v.(type) {
	case string:
		return Str(x)
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(x)}
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(x)}
	case []string:
		return Seq(x...)
	case *Map:
		return x.node
	case *yaml.Node:
		return x
	}
	return Str(fmt.Sprint(v))
}

// Str is a string scalar.
func Str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// Seq is a block sequence of strings.
func Seq(items ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range items {
		n.Content = append(n.Content, Str(s))
	}
	return n
}

// Flow is a sequence of strings written on one line: [a, b].
func Flow(items ...string) *yaml.Node {
	n := Seq(items...)
	n.Style = yaml.FlowStyle
	return n
}

// List is a block sequence of arbitrary nodes.
func List(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

// Encode writes m as a YAML document with two-space indentation, preceded
// by header as comment lines, with a blank line between top-level keys.
func Encode(m *Map, header string) ([]byte, error) {
	var b bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		if header == "" {
			break
		}
		b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m.node); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	lines := strings.SplitAfter(b.String(), "\n")
	body := false
	for _, line := range lines {
		top := line != "" && line[0] != ' ' && line[0] != '#' && line[0] != '-' && line[0] != '\n'
		if top && body {
			out.WriteString("\n")
		}
		body = body || top
		out.WriteString(line)
	}
	return out.Bytes(), nil
}
