package config

import (
	"fmt"
	"sort"
	"strconv"

	"gopkg.in/yaml.v3"
)

// IntOrString is a port given as a number or a name.
type IntOrString struct {
	IntVal int
	StrVal string
	IsStr  bool
}

// UnmarshalYAML accepts an integer or a string.
func (v *IntOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a port number or name")
	}
	if i, err := strconv.Atoi(n.Value); err == nil {
		*v = IntOrString{IntVal: i}
		return nil
	}
	*v = IntOrString{StrVal: n.Value, IsStr: true}
	return nil
}

// MarshalYAML writes the number or the name.
func (v IntOrString) MarshalYAML() (any, error) {
	if v.IsStr {
		return v.StrVal, nil
	}
	return v.IntVal, nil
}

// IsZero reports an unset value, for omitempty.
func (v IntOrString) IsZero() bool { return !v.IsStr && v.IntVal == 0 }

func (v IntOrString) String() string {
	if v.IsStr {
		return v.StrVal
	}
	return strconv.Itoa(v.IntVal)
}

// FlatMap is a map whose nested keys are flattened with dots, as Helm's --set
// expects: {image: {tag: x}} becomes {"image.tag": "x"}.
type FlatMap map[string]string

// UnmarshalYAML flattens nested mappings.
func (m *FlatMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("expected a mapping of keys to values")
	}
	out := FlatMap{}
	if err := flatten(n, "", out); err != nil {
		return err
	}
	*m = out
	return nil
}

func flatten(n *yaml.Node, prefix string, out FlatMap) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		if prefix != "" {
			k = prefix + "." + k
		}
		switch v.Kind {
		case yaml.MappingNode:
			if err := flatten(v, k, out); err != nil {
				return err
			}
		case yaml.ScalarNode:
			out[k] = v.Value
		default:
			return fmt.Errorf("%s: expected a scalar value or a mapping", k)
		}
	}
	return nil
}

// MarshalYAML writes the flattened keys in order.
func (m FlatMap) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Value: m[k], Tag: "!!str"})
	}
	return n, nil
}
