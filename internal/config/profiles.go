package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ActivationContext is what auto-activation of profiles looks at.
type ActivationContext struct {
	Command     string            // the skiff verb (build, dev, run, …)
	KubeContext string            // --kube-context, else the kubeconfig's current context
	Env         map[string]string // environment variables; nil means the process's
}

// activatedProfiles returns the profiles of a config to apply, in Skaffold's
// order: auto-activated ones in definition order, then the named ones in the
// order given; "-name" removes an auto-activated profile.
func activatedProfiles(profiles []Profile, named []string, actx ActivationContext) ([]string, error) {
	var activated []string
	for _, p := range profiles {
		on, err := autoActivated(p, actx)
		if err != nil {
			return nil, fmt.Errorf("profile %q: %w", p.Name, err)
		}
		if on {
			activated = append(activated, p.Name)
		}
	}
	for _, n := range named {
		if rest, ok := strings.CutPrefix(n, "-"); ok {
			activated = slices.DeleteFunc(activated, func(s string) bool { return s == rest })
		} else if !slices.Contains(activated, n) {
			activated = append(activated, n)
		}
	}
	return activated, nil
}

// autoActivated reports whether a profile's activation triggers: any one
// activation (all of them with requiresAllActivations), each activation
// needing all of its criteria.
func autoActivated(p Profile, actx ActivationContext) (bool, error) {
	if len(p.Activation) == 0 {
		return false, nil
	}
	for _, a := range p.Activation {
		ok, err := activationHolds(a, actx)
		if err != nil {
			return false, err
		}
		if ok && !p.RequiresAllActivations {
			return true, nil
		}
		if !ok && p.RequiresAllActivations {
			return false, nil
		}
	}
	return p.RequiresAllActivations, nil
}

func activationHolds(a Activation, actx ActivationContext) (bool, error) {
	if a.Env != "" {
		key, want, ok := strings.Cut(a.Env, "=")
		if !ok {
			return false, fmt.Errorf("activation env %q: expected KEY=pattern", a.Env)
		}
		got := actx.Env[key]
		var holds bool
		if want == "" {
			holds = got == "" // an empty pattern matches an unset or empty variable
		} else {
			m, err := satisfies(want, got)
			if err != nil {
				return false, fmt.Errorf("activation env %q: %w", a.Env, err)
			}
			holds = m
		}
		if !holds {
			return false, nil
		}
	}
	if a.KubeContext != "" {
		m, err := satisfies(a.KubeContext, actx.KubeContext)
		if err != nil || !m {
			return false, wrapActivation("kubeContext", a.KubeContext, err)
		}
	}
	if a.Command != "" {
		m, err := satisfies(a.Command, actx.Command)
		if err != nil || !m {
			return false, wrapActivation("command", a.Command, err)
		}
	}
	return true, nil
}

func wrapActivation(what, pattern string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("activation %s %q: %w", what, pattern, err)
}

// satisfies matches Skaffold's rule: a leading "!" negates; a pattern matches
// when it equals the value or the regular expression is found in it.
func satisfies(pattern, value string) (bool, error) {
	neg := false
	if rest, ok := strings.CutPrefix(pattern, "!"); ok {
		neg, pattern = true, rest
	}
	m := pattern == value
	if !m {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return false, fmt.Errorf("invalid regular expression: %v", err)
		}
		m = re.MatchString(value)
	}
	return m != neg, nil
}

// overlayPipeline applies a profile's pipeline sections onto a config node,
// with Skaffold's merge rules.
func overlayPipeline(cfg, profile *yaml.Node) {
	pipelineKeys := fieldKeys(fieldsOf(reflect.TypeOf(Pipeline{})))
	configFields := fieldsOf(reflect.TypeOf(Config{}))
	for _, kv := range mappingPairs(profile) {
		if !slices.Contains(pipelineKeys, kv[0].Value) {
			continue
		}
		f, _ := lookupField(configFields, kv[0].Value)
		overlayField(cfg, kv[0].Value, kv[1], f)
	}
}

// overlayStruct merges mapping prof into mapping base for struct type t.
func overlayStruct(base, prof *yaml.Node, t reflect.Type) *yaml.Node {
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: prof.Line, Column: prof.Column}
	if base != nil && base.Kind == yaml.MappingNode {
		out.Content = append(out.Content, base.Content...)
		out.Line, out.Column = base.Line, base.Column
	}
	fields := fieldsOf(t)
	for _, kv := range mappingPairs(prof) {
		f, ok := lookupField(fields, kv[0].Value)
		if !ok {
			continue // the checker has rejected unknown keys already
		}
		if f.tags.oneOf != "" && !isNull(kv[1]) {
			for _, k := range groupKeys(fields, f.tags.oneOf) {
				mappingDelete(out, k)
			}
		}
		overlayField(out, kv[0].Value, kv[1], f)
	}
	return out
}

// overlayField sets key in mapping out from the profile's value v, by the
// field's kind: structs merge, pointers, lists and maps replace when set,
// scalars replace when not zero.
func overlayField(out *yaml.Node, key string, v *yaml.Node, f field) {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if isNull(v) {
		return
	}
	t := f.typ
	switch {
	case t.Kind() == reflect.Struct && t != nodeType && !reflect.PointerTo(t).Implements(unmarshalerType):
		if v.Kind == yaml.MappingNode {
			mappingSet(out, key, overlayStruct(mappingGet(out, key), v, t))
		}
	case t.Kind() == reflect.Slice:
		if len(v.Content) > 0 {
			mappingSet(out, key, v)
		}
	case t.Kind() == reflect.Pointer, t.Kind() == reflect.Map, t == nodeType:
		mappingSet(out, key, v)
	default:
		if !zeroScalar(v) {
			mappingSet(out, key, v)
		}
	}
}

func zeroScalar(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode {
		return false
	}
	switch n.ShortTag() {
	case "!!str":
		return n.Value == ""
	case "!!int":
		return n.Value == "0"
	case "!!bool":
		return n.Value == "false"
	}
	return false
}
