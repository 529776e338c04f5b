package manifest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseOrigins(t *testing.T) {
	in := `# leading comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
---
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
--- # trailing comment
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: s1
`
	objs, err := Parse([]byte(in), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Origin.String()+" "+o.ID())
	}
	want := []string{
		"m.yaml:2 ConfigMap a",
		"m.yaml:8 Deployment.apps prod/web",
		"m.yaml:14 Service s1",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"syntax", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: [\n", "f.yaml:7: malformed YAML"},
		{"scalar", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\njust a string\n", "f.yaml:5: a manifest document must be a mapping"},
		{"no kind", "apiVersion: v1\nmetadata:\n  name: x\n", "f.yaml:1: object has no apiVersion or kind"},
		{"no name", "apiVersion: v1\nkind: ConfigMap\n", "f.yaml:1: ConfigMap has no metadata.name"},
		{"list item without name", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metdata: {name: p}\n", "f.yaml:1: list item 0 (Pod) has no metadata.name"},
		{"tab indent", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n", "f.yaml:4: malformed YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), "f.yaml")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error = %q, want one line starting with %q", err, tt.want)
			}
		})
	}
}

func TestSortAndEncodeDeterministic(t *testing.T) {
	in := `apiVersion: apps/v1
kind: Deployment
metadata: {name: b, namespace: x}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: foos.example.com}
---
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: x}
---
apiVersion: example.com/v1
kind: Foo
metadata: {name: f, namespace: x}
`
	objs, err := Parse([]byte(in), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	Sort(objs)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	if d := cmp.Diff([]string{"Namespace", "CustomResourceDefinition", "Service", "Deployment", "Foo"}, kinds); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	var a, b bytes.Buffer
	if err := Encode(&a, objs); err != nil {
		t.Fatal(err)
	}
	again, _ := Parse(a.Bytes(), "again.yaml")
	Sort(again)
	if err := Encode(&b, again); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("encode is not stable:\n%s\n---\n%s", a.String(), b.String())
	}
}

func TestPhasesFollowTheSortOrder(t *testing.T) {
	prev := 0
	for _, kind := range append(append([]string{}, kindOrder...), "Foo") {
		p := Phase(kind)
		if p < prev {
			t.Errorf("kind %s has phase %d after phase %d: phases must not go back in the apply order", kind, p, prev)
		}
		prev = p
	}
	for kind, want := range map[string]int{"Namespace": 0, "CustomResourceDefinition": 0, "ServiceAccount": 1, "ConfigMap": 1, "Service": 1, "Deployment": 2, "HorizontalPodAutoscaler": 2, "CronJob": 2, "Ingress": 3, "ValidatingWebhookConfiguration": 3, "Foo": 3} {
		if got := Phase(kind); got != want {
			t.Errorf("Phase(%s) = %d, want %d", kind, got, want)
		}
	}
}
