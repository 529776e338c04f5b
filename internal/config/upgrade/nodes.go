package upgrade

import "gopkg.in/yaml.v3"

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// getPath follows keys from n.
func getPath(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = get(n, k)
	}
	return n
}

// take removes key from mapping n and returns its value, or nil.
func take(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return v
		}
	}
	return nil
}

// rename changes key old of mapping n to new, keeping its comments.
func rename(n *yaml.Node, old, new string) bool {
	if n == nil || n.Kind != yaml.MappingNode || get(n, new) != nil {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == old {
			n.Content[i].Value = new
			return true
		}
	}
	return false
}

// set sets key of mapping n to v: in place when present, else before the
// key named before (when present) or at the end.
func set(n *yaml.Node, key string, v *yaml.Node, before ...string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content[i+1] = v
			return
		}
	}
	k := scalar(key)
	for _, b := range before {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == b {
				n.Content = append(n.Content[:i], append([]*yaml.Node{k, v}, n.Content[i:]...)...)
				return
			}
		}
	}
	n.Content = append(n.Content, k, v)
}

// ensure returns the mapping at key of n, creating it (before the keys
// named) when missing.
func ensure(n *yaml.Node, key string, before ...string) *yaml.Node {
	if v := get(n, key); v != nil && v.Kind == yaml.MappingNode {
		return v
	}
	m := mapping()
	set(n, key, m, before...)
	return m
}

func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func sequence(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
}

func boolNode(b bool) *yaml.Node {
	v := "false"
	if b {
		v = "true"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: v}
}

// isTrue reports whether n is a YAML true.
func isTrue(n *yaml.Node) bool {
	if n == nil || n.Kind != yaml.ScalarNode {
		return false
	}
	var b bool
	return n.Decode(&b) == nil && b
}

// items returns the elements of sequence n.
func items(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// clone copies n deeply, without comments (the copy is a second
// appearance of the same text, and the comments stay with the first).
func clone(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	c.Content = nil
	for _, ch := range n.Content {
		c.Content = append(c.Content, clone(ch))
	}
	return &c
}
