package env

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ConfinementPolicyName names the admission policy that confines a dynamic
// environment's deployer to the environment's namespaces. The name is
// injective in (app, environment): a hash of both, separated, ends it, so
// app "shop-review" with environment "x" and app "shop" with environment
// "review-x" get different policies and one env rbac cannot overwrite the
// other's subjects.
func ConfinementPolicyName(app, environment string) string {
	sum := sha256.Sum256([]byte(app + "\x00" + environment))
	suffix := hex.EncodeToString(sum[:])[:12]
	base := strings.Trim(invalidRun.ReplaceAllString(strings.ToLower("skiff-"+app+"-"+environment), "-"), "-")
	if max := 63 - len("-confine-") - len(suffix); len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	return base + "-confine-" + suffix
}

// ConfinementPolicy returns a ValidatingAdmissionPolicy and its binding
// that let the subjects write only in namespaces labelled with app and
// environment, and create, change or delete only such namespaces. RBAC alone
// cannot express this: the deployer of a dynamic environment may create
// namespaces and bind its deploy role anywhere.
func ConfinementPolicy(app, environment string, subjects []rbacv1.Subject) []*unstructured.Unstructured {
	name := ConfinementPolicyName(app, environment)
	labelled := func(obj string) string {
		return fmt.Sprintf("(%[1]s != null && has(%[1]s.metadata.labels) && '%[2]s' in %[1]s.metadata.labels && %[1]s.metadata.labels['%[2]s'] == %[3]s && '%[4]s' in %[1]s.metadata.labels && %[1]s.metadata.labels['%[4]s'] == %[5]s)",
			obj, LabelApp, celString(app), LabelEnvironment, celString(environment))
	}
	labels := map[string]any{LabelManagedBy: ManagedByValue, LabelApp: app, LabelEnvironment: environment}
	return admissionPolicy(name, labels,
		map[string]any{
			"apiGroups":   []any{"*"},
			"apiVersions": []any{"*"},
			"operations":  []any{"CREATE", "UPDATE", "DELETE"},
			"resources":   []any{"*/*"},
		},
		map[string]any{"name": "is-the-deployer", "expression": subjectCondition(subjects)},
		validation("request.resource.resource == 'namespaces' || request.namespace == '' || "+labelled("namespaceObject"),
			fmt.Sprintf("the %s deployer of %s may only write in namespaces of that environment", environment, app)),
		validation("request.resource.resource != 'namespaces' || (request.operation == 'CREATE' ? "+labelled("object")+
			" : "+labelled("oldObject")+" && (request.operation != 'UPDATE' || "+labelled("object")+"))",
			fmt.Sprintf("the %s deployer of %s may only create, change or delete namespaces of that environment", environment, app)),
	)
}

// subjectCondition is a CEL expression true for requests made by one of
// subjects.
func subjectCondition(subjects []rbacv1.Subject) string {
	var users, groups []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, celString(s.Name))
		case rbacv1.GroupKind:
			groups = append(groups, celString(s.Name))
		case rbacv1.ServiceAccountKind:
			users = append(users, celString("system:serviceaccount:"+s.Namespace+":"+s.Name))
		}
	}
	var parts []string
	if len(users) > 0 {
		parts = append(parts, "request.userInfo.username in ["+strings.Join(users, ", ")+"]")
	}
	if len(groups) > 0 {
		parts = append(parts, "(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in ["+strings.Join(groups, ", ")+"]))")
	}
	if len(parts) == 0 {
		return "false"
	}
	return strings.Join(parts, " || ")
}

// celString quotes s as a CEL string literal.
func celString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
