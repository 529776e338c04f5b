package apply

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/skiff-dev/skiff/internal/manifest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRefRoundTrip(t *testing.T) {
	t.Parallel()
	refs := []ObjectRef{
		{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: "web"},
		{Kind: "Namespace", Name: "ns"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "r"},
	}
	for _, r := range refs {
		got, err := parseRef(r.key())
		if err != nil {
			t.Fatalf("parseRef(%q): %v", r.key(), err)
		}
		if got != r {
			t.Errorf("parseRef(%q) = %+v, want %+v", r.key(), got, r)
		}
	}
	for _, bad := range []string{"", "a/b", "apps//ns/web", "apps/Deployment/ns/"} {
		if _, err := parseRef(bad); err == nil {
			t.Errorf("parseRef(%q): no error", bad)
		}
	}
}

func TestInventoryObjectIsSortedAndLabelled(t *testing.T) {
	t.Parallel()
	u := inventoryObject("prod", "shop", []ObjectRef{
		{Kind: "Service", Namespace: "prod", Name: "web"},
		{Group: "apps", Kind: "Deployment", Namespace: "prod", Name: "web"},
		{Kind: "Service", Namespace: "prod", Name: "web"},
	})
	data, _, _ := unstructured.NestedString(u.Object, "data", "objects")
	if want := "/Service/prod/web\napps/Deployment/prod/web"; data != want {
		t.Errorf("objects = %q, want %q", data, want)
	}
	if u.GetName() != "skiff-shop" || u.GetLabels()[LabelManagedBy] != "skiff" || u.GetLabels()[LabelApp] != "shop" {
		t.Errorf("name/labels = %s %v", u.GetName(), u.GetLabels())
	}
}

func TestUnionMinus(t *testing.T) {
	t.Parallel()
	a := ObjectRef{Kind: "ConfigMap", Namespace: "n", Name: "a"}
	b := ObjectRef{Kind: "ConfigMap", Namespace: "n", Name: "b"}
	c := ObjectRef{Kind: "ConfigMap", Namespace: "n", Name: "c"}
	if d := cmp.Diff([]ObjectRef{a, b, c}, union([]ObjectRef{c, a}, []ObjectRef{b, a})); d != "" {
		t.Errorf("union (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]ObjectRef{c}, minus([]ObjectRef{a, c}, []ObjectRef{a, b})); d != "" {
		t.Errorf("minus (-want +got):\n%s", d)
	}
}

func TestConflicts(t *testing.T) {
	t.Parallel()
	err := &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 409, Reason: metav1.StatusReasonConflict,
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{
			{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "kubectl-client-side-apply" using apps/v1`, Field: ".spec.replicas"},
			{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "hpa-controller"`, Field: ".spec.template.spec.containers[name=\"app\"].image"},
		}},
	}}
	got := conflicts(err)
	want := []Conflict{
		{Manager: "kubectl-client-side-apply", Field: ".spec.replicas"},
		{Manager: "hpa-controller", Field: `.spec.template.spec.containers[name="app"].image`},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("conflicts (-want +got):\n%s", d)
	}
	msg := describeConflicts(got)
	if !strings.Contains(msg, `.spec.replicas owned by "kubectl-client-side-apply"`) || !strings.Contains(msg, "--force") {
		t.Errorf("describeConflicts = %q", msg)
	}
	if conflicts(errors.New("boom")) != nil {
		t.Error("conflicts of a plain error should be nil")
	}
}

func TestUnchanged(t *testing.T) {
	t.Parallel()
	entry := func(time string) map[string]any {
		return map[string]any{"manager": "skiff", "operation": "Apply", "time": time, "fieldsV1": map[string]any{"f:data": map[string]any{}}}
	}
	obj := func(rv, data string, entries ...any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "c", "resourceVersion": rv, "managedFields": entries},
			"data":     map[string]any{"k": data},
			"status":   map[string]any{"x": rv},
		}}
	}
	tests := []struct {
		name      string
		live, dry *unstructured.Unstructured
		want      bool
	}{
		{"same apart from resourceVersion and status", obj("1", "v", entry("t1")), obj("2", "v", entry("t1")), true},
		{"data differs", obj("1", "v", entry("t1")), obj("1", "w", entry("t2")), false},
		{"skiff's entry touched", obj("1", "v", entry("t1")), obj("1", "v", entry("t2")), false},
		{"skiff takes ownership", obj("1", "v"), obj("1", "v", entry("t2")), false},
		{"absent", nil, obj("1", "v"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := unchanged(tt.live, tt.dry); got != tt.want {
				t.Errorf("unchanged = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestImages(t *testing.T) {
	t.Parallel()
	objs, err := manifest.Parse([]byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers: [{name: init, image: "reg/init@sha256:aaaa"}]
      containers: [{name: app, image: "reg/web:1@sha256:bbbb"}, {name: side, image: busybox}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: job}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {containers: "not a list"}
`), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"busybox", "reg/init@sha256:aaaa", "reg/web:1@sha256:bbbb"}
	if d := cmp.Diff(want, Images(objs)); d != "" {
		t.Errorf("images (-want +got):\n%s", d)
	}
}

func TestEncodeManifestsIsStable(t *testing.T) {
	t.Parallel()
	objs, err := manifest.Parse([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\ndata: {b: '2', a: '1'}\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, s1, err := encodeManifests(objs)
	if err != nil {
		t.Fatal(err)
	}
	_, s2, _ := encodeManifests(objs)
	if s1 != s2 || len(s1) != 64 {
		t.Errorf("sha256 %q vs %q", s1, s2)
	}
}

func TestValidationErrorIsOneLine(t *testing.T) {
	t.Parallel()
	e := &ValidationError{Problems: []Problem{
		{Object: "Widget.example.com n/w", Origin: manifest.Origin{File: "m.yaml", Line: 5}, Message: "unknown kind"},
		{Message: "namespace \"x\" does not exist"},
		{Message: "third"},
	}}
	want := "m.yaml:5: Widget.example.com n/w: unknown kind (and 2 more problems); nothing was changed"
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}

func TestCheckOptions(t *testing.T) {
	t.Parallel()
	ok := Options{App: "shop", Namespace: "prod", OnFailure: OnFailureKeep}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"valid", func(*Options) {}, ""},
		{"upper-case app", func(o *Options) { o.App = "Shop" }, `application name "Shop"`},
		{"long app", func(o *Options) { o.App = strings.Repeat("a", 60) }, "too long"},
		{"bad namespace", func(o *Options) { o.Namespace = "a_b" }, `namespace "a_b"`},
		{"bad policy", func(o *Options) { o.OnFailure = "explode" }, "unknown failure policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := ok
			tt.edit(&o)
			err := checkOptions(o)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("checkOptions = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMappingPath(t *testing.T) {
	t.Parallel()
	deploy := mapping{gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, namespaced: true}
	ns := mapping{gvr: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}}
	if got := strings.Join(deploy.path("prod", "web"), "/"); got != "/apis/apps/v1/namespaces/prod/deployments/web" {
		t.Errorf("path = %s", got)
	}
	if got := strings.Join(ns.path("", "prod"), "/"); got != "/api/v1/namespaces/prod" {
		t.Errorf("path = %s", got)
	}
}
