package apply

import (
	"context"
	"fmt"
	"sort"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/skiff-dev/skiff/internal/manifest"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// DiffChange says how an object differs between two revisions.
type DiffChange string

// The ways an object can differ between two revisions.
const (
	DiffAdded     DiffChange = "added"
	DiffRemoved   DiffChange = "removed"
	DiffChanged   DiffChange = "changed"
	DiffUnchanged DiffChange = "unchanged"
)

// ObjectDiff is how one object's manifest differs between two revisions.
type ObjectDiff struct {
	// Object names it as Kind.group namespace/name.
	Object string     `json:"object"`
	Change DiffChange `json:"change"`
	// Unified is a unified diff of its YAML; empty when unchanged.
	Unified string `json:"unified,omitempty"`
}

// Diff compares the manifests that revisions from and to of app applied in
// namespace, object by object, in the order of the objects' keys. Secret
// values never appear: each is replaced by its size, and marked when it
// changed.
func (r *Records) Diff(ctx context.Context, namespace, app string, from, to int) ([]ObjectDiff, error) {
	a, err := r.Manifests(ctx, namespace, app, from)
	if err != nil {
		return nil, err
	}
	b, err := r.Manifests(ctx, namespace, app, to)
	if err != nil {
		return nil, err
	}
	return DiffObjects(a, b, fmt.Sprintf("revision %d", from), fmt.Sprintf("revision %d", to))
}

// DiffObjects compares two sets of objects as Diff does; fromName and
// toName label the diffs' sides.
func DiffObjects(from, to []manifest.Object, fromName, toName string) ([]ObjectDiff, error) {
	before, after := byKey(from), byKey(to)
	keys := make([]string, 0, len(before)+len(after))
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]ObjectDiff, 0, len(keys))
	for _, k := range keys {
		a, b := before[k], after[k]
		a, b = redactSecretPair(a, b)
		d := ObjectDiff{Change: DiffChanged}
		switch {
		case a == nil:
			d.Object, d.Change = manifest.ID(b), DiffAdded
		case b == nil:
			d.Object, d.Change = manifest.ID(a), DiffRemoved
		default:
			d.Object = manifest.ID(b)
		}
		ya, err := yamlOf(a)
		if err != nil {
			return nil, err
		}
		yb, err := yamlOf(b)
		if err != nil {
			return nil, err
		}
		if ya == yb {
			d.Change = DiffUnchanged
			out = append(out, d)
			continue
		}
		d.Unified, err = difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(ya), B: difflib.SplitLines(yb),
			FromFile: fromName, ToFile: toName, Context: 3,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func byKey(objs []manifest.Object) map[string]*unstructured.Unstructured {
	m := make(map[string]*unstructured.Unstructured, len(objs))
	for _, o := range objs {
		m[manifest.Key(o.Unstructured)] = o.Unstructured
	}
	return m
}

func yamlOf(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	data, err := yaml.Marshal(u.Object)
	if err != nil {
		return "", fmt.Errorf("encoding %s: %w", manifest.ID(u), err)
	}
	return string(data), nil
}

func isSecret(u *unstructured.Unstructured) bool {
	return u != nil && u.GetKind() == "Secret" && u.GroupVersionKind().Group == ""
}

// redactSecretPair returns copies of two versions of a Secret with every
// value replaced by its size, the second marked where it differs from the
// first. Other objects are returned as they are.
func redactSecretPair(a, b *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	if !isSecret(a) && !isSecret(b) {
		return a, b
	}
	values := func(u *unstructured.Unstructured, field string) map[string]any {
		if u == nil {
			return nil
		}
		m, _, _ := unstructured.NestedMap(u.Object, field)
		return m
	}
	redact := func(u, other *unstructured.Unstructured) *unstructured.Unstructured {
		if u == nil {
			return nil
		}
		c := u.DeepCopy()
		for _, field := range []string{"data", "stringData"} {
			m := values(c, field)
			if m == nil {
				continue
			}
			prev := values(other, field)
			for k, v := range m {
				s := fmt.Sprint(v)
				note := fmt.Sprintf("(secret value, %d bytes)", len(s))
				if other != nil {
					if p, ok := prev[k]; ok && fmt.Sprint(p) != s {
						note = fmt.Sprintf("(secret value, %d bytes, changed)", len(s))
					}
				}
				m[k] = note
			}
			_ = unstructured.SetNestedMap(c.Object, m, field)
		}
		ann := c.GetAnnotations()
		if _, ok := ann["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			ann["kubectl.kubernetes.io/last-applied-configuration"] = "(redacted)"
			c.SetAnnotations(ann)
		}
		return c
	}
	ra := redact(a, nil)
	rb := redact(b, a)
	return ra, rb
}
