package env

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

func TestRBACStatic(t *testing.T) {
	sub, err := ParseSubject("serviceaccount:ci:deployer")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := RBAC(RBACOptions{App: "shop", Environment: "staging", Namespace: "shop-staging", Subjects: []rbacv1.Subject{sub},
		Kinds: []schema.GroupVersionKind{{Group: "apps", Version: "v1", Kind: "Deployment"}, {Version: "v1", Kind: "Service"}, {Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	if got := strings.Join(kinds, " "); got != "Role/shop-staging/skiff:shop:staging:deploy RoleBinding/shop-staging/skiff:shop:staging:deploy" {
		t.Errorf("objects = %s", got)
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
		Kinds: []schema.GroupVersionKind{{Group: "apps", Version: "v1", Kind: "Deployment"}, {Version: "v1", Kind: "Namespace"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 5 || objs[0].GetKind() != "ValidatingAdmissionPolicy" || objs[2].GetKind() != "ClusterRole" || objs[4].GetKind() != "ClusterRoleBinding" {
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
