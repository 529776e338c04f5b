package env

import (
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/apply"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

func TestRBACStatic(t *testing.T) {
	sub, err := ParseSubject("serviceaccount:ci:deployer")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := RBAC(RBACOptions{App: "shop", Environment: "staging", Namespace: "shop-staging", Subjects: []rbacv1.Subject{sub},
		Objects: ids(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, schema.GroupVersionKind{Version: "v1", Kind: "Service"}, schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"})})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	if got := strings.Join(kinds, " "); got != "Role/shop-staging/skiff:shop:staging:deploy RoleBinding/shop-staging/skiff:shop:staging:deploy "+
		"ClusterRole//skiff:shop:staging:cluster ClusterRoleBinding//skiff:shop:staging:cluster "+
		"Namespace//skiff-system Role/skiff-system/skiff:shop:staging:record-key RoleBinding/skiff-system/skiff:shop:staging:record-key" {
		t.Errorf("objects = %s", got)
	}
	// The record key: get, by name, nothing else.
	var keyRole rbacv1.Role
	// Its own namespace, by name, read only.
	var nsRole rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[2].Object, &nsRole); err != nil {
		t.Fatal(err)
	}
	if len(nsRole.Rules) != 1 || strings.Join(nsRole.Rules[0].ResourceNames, ",") != "shop-staging" || strings.Join(nsRole.Rules[0].Verbs, ",") != "get,list,watch" {
		t.Errorf("namespace rule: %+v", nsRole.Rules)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[5].Object, &keyRole); err != nil {
		t.Fatal(err)
	}
	if len(keyRole.Rules) != 1 || strings.Join(keyRole.Rules[0].Verbs, ",") != "get" || strings.Join(keyRole.Rules[0].Resources, ",") != "secrets" ||
		len(keyRole.Rules[0].ResourceNames) != 1 || keyRole.Rules[0].ResourceNames[0] != apply.RecordKeyName("shop", "staging") {
		t.Errorf("record key role: %+v", keyRole.Rules)
	}
	data, _ := yaml.Marshal(objs[0].Object)
	for _, want := range []string{"- deployments", "- services", "- ingresses", "- configmaps", "- secrets", "- replicasets"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("role lacks %s:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), "namespaces") || strings.Contains(string(data), "'*'") {
		t.Errorf("a static deployer must not touch namespaces or wildcards:\n%s", data)
	}
}

func TestRBACDynamic(t *testing.T) {
	sub, _ := ParseSubject("user:ci-review")
	objs, err := RBAC(RBACOptions{App: "shop", Environment: "review", Dynamic: true, Subjects: []rbacv1.Subject{sub},
		Objects: ids(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 8 || objs[0].GetKind() != "ValidatingAdmissionPolicy" || objs[2].GetKind() != "ClusterRole" || objs[4].GetKind() != "ClusterRoleBinding" {
		t.Fatalf("objects: %v", objs)
	}
	policy, _ := yaml.Marshal(objs[0].Object)
	if !strings.Contains(string(policy), "request.userInfo.username in ['ci-review']") {
		t.Errorf("confinement policy does not match the deployer:\n%s", policy)
	}
	data, _ := yaml.Marshal(objs[3].Object)
	if !strings.Contains(string(data), "bind") || !strings.Contains(string(data), "skiff:shop:review:deploy") {
		t.Errorf("namespaces role must allow binding exactly the deploy role:\n%s", data)
	}
}

func TestParseSubjectErrors(t *testing.T) {
	for _, s := range []string{"", "bob", "robot:x", "serviceaccount:only-ns", "user:"} {
		if _, err := ParseSubject(s); err == nil {
			t.Errorf("ParseSubject(%q) must fail", s)
		}
	}
	if _, err := RBAC(RBACOptions{App: "a", Environment: "e", Namespace: "n"}); err == nil {
		t.Error("RBAC without subjects must fail")
	}
}

// ids are objects of kinds, named after their kind.
func ids(kinds ...schema.GroupVersionKind) []ObjectID {
	var out []ObjectID
	for _, k := range kinds {
		out = append(out, ObjectID{GroupVersionKind: k, Name: strings.ToLower(k.Kind)})
	}
	return out
}

var (
	crdKind = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
	crbKind = schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}
)

// Cluster-scoped objects are granted by name only, in long-lived and
// dynamic environments alike, and a dynamic environment needs them listed.
func TestRBACClusterObjectsByName(t *testing.T) {
	sub, _ := ParseSubject("user:ci")
	objs := []ObjectID{
		{GroupVersionKind: crdKind, Name: "widgets.example.com"},
		{GroupVersionKind: crdKind, Name: "gadgets.example.com"},
		{GroupVersionKind: crbKind, Name: "shop-reader"},
		{GroupVersionKind: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Name: "web"},
	}
	static, err := RBAC(RBACOptions{App: "shop", Environment: "staging", Namespace: "shop-staging", Subjects: []rbacv1.Subject{sub}, Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if len(static) != 7 || static[2].GetKind() != "ClusterRole" {
		t.Fatalf("objects: %v", static)
	}
	var role rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(static[2].Object, &role); err != nil {
		t.Fatal(err)
	}
	if len(role.Rules) != 3 || role.Rules[0].Resources[0] != "namespaces" || role.Rules[0].ResourceNames[0] != "shop-staging" {
		t.Fatalf("cluster rules: %+v", role.Rules)
	}
	for _, r := range role.Rules[1:] {
		want := map[string][]string{"customresourcedefinitions": {"gadgets.example.com", "widgets.example.com"}, "clusterrolebindings": {"shop-reader"}}[r.Resources[0]]
		if len(want) == 0 || strings.Join(r.ResourceNames, ",") != strings.Join(want, ",") {
			t.Errorf("rule %+v: resourceNames must be exactly %v", r, want)
		}
	}

	_, err = RBAC(RBACOptions{App: "shop", Environment: "review", Dynamic: true, Subjects: []rbacv1.Subject{sub}, Objects: objs,
		AllowClusterObjects: []string{"CustomResourceDefinition/widgets.example.com", "ClusterRoleBinding/shop-reader"}})
	if err == nil || !strings.Contains(err.Error(), `"CustomResourceDefinition/gadgets.example.com"`) || !strings.Contains(err.Error(), "environments[review].allowClusterObjects") {
		t.Fatalf("an unlisted CRD in a review environment: %v", err)
	}
	dyn, err := RBAC(RBACOptions{App: "shop", Environment: "review", Dynamic: true, Subjects: []rbacv1.Subject{sub}, Objects: objs,
		AllowClusterObjects: []string{"CustomResourceDefinition/widgets.example.com", "CustomResourceDefinition.apiextensions.k8s.io/gadgets.example.com", "ClusterRoleBinding/shop-reader"}})
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := yaml.Marshal(dyn[0].Object)
	for _, want := range []string{"apiextensions.k8s.io/customresourcedefinitions/widgets.example.com", "rbac.authorization.k8s.io/clusterrolebindings/shop-reader", "skiff:shop:review:deploy"} {
		if !strings.Contains(string(policy), want) {
			t.Errorf("confinement policy lacks %s:\n%s", want, policy)
		}
	}
	if strings.Contains(string(policy), "request.namespace == '' ||") && !strings.Contains(string(policy), "request.namespace != '' ||") {
		t.Errorf("cluster-scoped requests pass without a check:\n%s", policy)
	}
	nsRole, _ := yaml.Marshal(dyn[3].Object)
	if !strings.Contains(string(nsRole), "widgets.example.com") || strings.Count(string(nsRole), "resourceNames") != 3 {
		t.Errorf("the namespaces role must grant the cluster objects by name (and bind the deploy role by name):\n%s", nsRole)
	}

	_, err = RBAC(RBACOptions{App: "shop", Environment: "staging", Namespace: "shop-staging", Subjects: []rbacv1.Subject{sub},
		Objects: []ObjectID{{GroupVersionKind: crbKind, Name: "skiff:shop:review:deploy"}}})
	if err == nil || !strings.Contains(err.Error(), "named like skiff's own") {
		t.Errorf("a manifest object named like skiff's deploy role: %v", err)
	}
}
