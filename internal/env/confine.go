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
// environment, create, change or delete only such namespaces, and write
// cluster-scoped objects only by name (clusterObjs, the environment's
// allowClusterObjects) and only when labelled with app and environment
// before and after the request. Creating a ClusterRoleBinding of the
// environment's own cluster roles is refused: the deployer may bind the
// deploy role (in its namespaces), never cluster-wide. RBAC alone cannot
// express this: the deployer of a dynamic environment may create
// namespaces and bind its deploy role anywhere. Self reviews (who am I,
// may I) are cluster-scoped requests too, and always allowed.
func ConfinementPolicy(app, environment string, subjects []rbacv1.Subject, clusterObjs []clusterObject) []*unstructured.Unstructured {
	name := ConfinementPolicyName(app, environment)
	labelled := func(obj string) string {
		return fmt.Sprintf("(%[1]s != null && has(%[1]s.metadata.labels) && '%[2]s' in %[1]s.metadata.labels && %[1]s.metadata.labels['%[2]s'] == %[3]s && '%[4]s' in %[1]s.metadata.labels && %[1]s.metadata.labels['%[4]s'] == %[5]s)",
			obj, LabelApp, celString(app), LabelEnvironment, celString(environment))
	}
	// before and after: labelled when created, labelled before a change or
	// delete and still after a change.
	beforeAndAfter := "(request.operation == 'CREATE' ? " + labelled("object") + " : " + labelled("oldObject") + " && (request.operation != 'UPDATE' || " + labelled("object") + "))"
	var names []string
	for _, c := range clusterObjs {
		names = append(names, celString(c.Group+"/"+c.Resource+"/"+c.Name))
	}
	listed := "false"
	if len(names) > 0 {
		listed = "(request.resource.group + '/' + request.resource.resource + '/' + request.name) in [" + strings.Join(names, ", ") + "]"
	}
	// A cluster-scoped request has no namespace key at all.
	clusterScoped := "(!has(request.namespace) || request.namespace == '')"
	ownRoles := celString(DeployRoleName(app, environment)) + ", " + celString(NamespacesRoleName(app, environment))
	labels := map[string]any{LabelManagedBy: ManagedByValue, LabelApp: app, LabelEnvironment: environment}
	return admissionPolicy(name, labels,
		map[string]any{
			"apiGroups":   []any{"*"},
			"apiVersions": []any{"*"},
			"operations":  []any{"CREATE", "UPDATE", "DELETE"},
			"resources":   []any{"*/*"},
		},
		map[string]any{"name": "is-the-deployer", "expression": subjectCondition(subjects)},
		validation("request.resource.resource == 'namespaces' || "+clusterScoped+" || "+labelled("namespaceObject"),
			fmt.Sprintf("the %s deployer of %s may only write in namespaces of that environment", environment, app)),
		validation("request.resource.resource != 'namespaces' || "+beforeAndAfter,
			fmt.Sprintf("the %s deployer of %s may only create, change or delete namespaces of that environment", environment, app)),
		validation("!"+clusterScoped+" || request.resource.resource == 'namespaces' || "+
			"(request.resource.group in ['authorization.k8s.io', 'authentication.k8s.io'] && request.resource.resource.startsWith('self')) || "+
			"("+listed+" && "+beforeAndAfter+")",
			fmt.Sprintf("the %s deployer of %s may only write the cluster-scoped objects listed in environments[%s].allowClusterObjects, labelled %s=%s and %s=%s", environment, app, environment, LabelApp, app, LabelEnvironment, environment)),
		validation("request.resource.group != 'rbac.authorization.k8s.io' || request.resource.resource != 'clusterrolebindings' || request.operation == 'DELETE' || !(object.roleRef.name in ["+ownRoles+"])",
			fmt.Sprintf("the %s deployer of %s may not bind its own cluster roles cluster-wide", environment, app)),
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
