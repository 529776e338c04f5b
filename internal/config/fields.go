package config

import (
	"reflect"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// field is one YAML key of a schema struct, with inline structs flattened.
type field struct {
	key  string
	name string // Go field name, for messages
	typ  reflect.Type
	tags fieldTags
}

type fieldTags struct {
	required    bool
	oneOf       string
	path        bool
	template    bool
	duration    bool
	skiffOnly   bool
	unsupported string
	ignored     string
	enum        []string
}

var fieldCache sync.Map // reflect.Type → []field

// fieldsOf lists the YAML keys of struct type t in declaration order.
func fieldsOf(t reflect.Type) []field {
	if v, ok := fieldCache.Load(t); ok {
		return v.([]field)
	}
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		yt := sf.Tag.Get("yaml")
		if yt == "-" || !sf.IsExported() {
			continue
		}
		key, opts, _ := strings.Cut(yt, ",")
		if strings.Contains(opts, "inline") {
			out = append(out, fieldsOf(sf.Type)...)
			continue
		}
		if key == "" {
			key = strings.ToLower(sf.Name)
		}
		out = append(out, field{key: key, name: sf.Name, typ: sf.Type, tags: parseTags(sf.Tag.Get("skiff"))})
	}
	fieldCache.Store(t, out)
	return out
}

func parseTags(s string) fieldTags {
	var t fieldTags
	if s == "" {
		return t
	}
	// The reasons of unsupported= and ignored= may contain commas, so they
	// run to the end of the tag.
	for s != "" {
		var part string
		if strings.HasPrefix(s, "unsupported=") || strings.HasPrefix(s, "ignored=") {
			part, s = s, ""
		} else {
			part, s, _ = strings.Cut(s, ",")
		}
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "required":
			t.required = true
		case "oneOf":
			t.oneOf = v
		case "path":
			t.path = true
		case "template":
			t.template = true
		case "duration":
			t.duration = true
		case "skiffOnly":
			t.skiffOnly = true
		case "unsupported":
			t.unsupported = v
		case "ignored":
			t.ignored = v
		case "enum":
			t.enum = strings.Split(v, "|")
		}
	}
	return t
}

func lookupField(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

func fieldKeys(fields []field) []string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return keys
}

var (
	nodeType        = reflect.TypeOf(yaml.Node{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// isNull reports an absent or explicitly null value.
func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// mappingPairs returns the key/value nodes of a mapping.
func mappingPairs(n *yaml.Node) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	return out
}

// mappingGet returns the value of key in mapping n.
func mappingGet(n *yaml.Node, key string) *yaml.Node {
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

// mappingSet sets key in mapping n, replacing an existing value in place.
func mappingSet(n *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content[i+1] = v
			return
		}
	}
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// mappingDelete removes key from mapping n; it reports whether it was there.
func mappingDelete(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return true
		}
	}
	return false
}

// mappingKey returns the key node of key in mapping n.
func mappingKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}
