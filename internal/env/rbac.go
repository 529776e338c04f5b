package env

import (
	"fmt"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/manifest"
)

// RBACOptions describe the deployer an RBAC set is made for.
type RBACOptions struct {
	App         string
	Environment string
	// Namespace is a long-lived environment's namespace; empty for a
	// dynamic environment, whose namespaces are created per ref.
	Namespace string
	Dynamic   bool
	// Subjects are who deploys: users, groups or service accounts.
	Subjects []rbacv1.Subject
	// Kinds are the kinds of the environment's rendered manifests.
	Kinds []schema.GroupVersionKind
	// Mapper resolves kinds to resources and scopes; nil guesses offline
	// (lower-case plural, namespaced unless a well-known cluster kind).
	Mapper meta.RESTMapper
}

// deployVerbs are what server-side apply, prune and delete need.
var deployVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

var clusterScopedKinds = map[schema.GroupKind]bool{
	{Kind: "Namespace"}: true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:  true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                   true,
	{Kind: "PersistentVolume"}:                                        true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:               true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                true,
}

// DeployRoleName names the (Cluster)Role holding a deployer's namespaced
// rights.
func DeployRoleName(app, environment string) string {
	return "skiff:" + app + ":" + environment + ":deploy"
}

// NamespacesRoleName names the ClusterRole a dynamic environment's deployer
// needs to create its namespaces.
func NamespacesRoleName(app, environment string) string {
	return "skiff:" + app + ":" + environment + ":namespaces"
}

// RBAC returns a least-privilege Role and RoleBinding (or, for a dynamic
// environment, ClusterRoles and a ClusterRoleBinding) for a CI deployer.
func RBAC(o RBACOptions) ([]*unstructured.Unstructured, error) {
	if len(o.Subjects) == 0 {
		return nil, fmt.Errorf("no subject: name the deployer with --user, --group or --service-account (or set as/asGroups on the environment)")
	}
	namespaced, cluster, err := rulesFor(o.Kinds, o.Mapper)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{LabelManagedBy: ManagedByValue, LabelApp: o.App, LabelEnvironment: o.Environment}
	meta := func(name, ns string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	deploy := DeployRoleName(o.App, o.Environment)
	var objs []runtime.Object
	if o.Dynamic {
		nsRules := append([]rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch", "create", "patch", "update", "delete"}},
			{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}, Verbs: []string{"get", "create", "patch", "update"}},
			{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}, ResourceNames: []string{deploy}},
		}, cluster...)
		objs = append(objs,
			&rbacv1.ClusterRole{TypeMeta: typeMeta("ClusterRole"), ObjectMeta: meta(deploy, ""), Rules: namespaced},
			&rbacv1.ClusterRole{TypeMeta: typeMeta("ClusterRole"), ObjectMeta: meta(NamespacesRoleName(o.App, o.Environment), ""), Rules: nsRules},
			&rbacv1.ClusterRoleBinding{TypeMeta: typeMeta("ClusterRoleBinding"), ObjectMeta: meta(NamespacesRoleName(o.App, o.Environment), ""),
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: NamespacesRoleName(o.App, o.Environment)}, Subjects: o.Subjects},
		)
	} else {
		if o.Namespace == "" {
			return nil, fmt.Errorf("environment %s has no namespace", o.Environment)
		}
		objs = append(objs,
			&rbacv1.Role{TypeMeta: typeMeta("Role"), ObjectMeta: meta(deploy, o.Namespace), Rules: namespaced},
			&rbacv1.RoleBinding{TypeMeta: typeMeta("RoleBinding"), ObjectMeta: meta(deploy, o.Namespace),
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: deploy}, Subjects: o.Subjects},
		)
		if len(cluster) > 0 {
			name := "skiff:" + o.App + ":" + o.Environment + ":cluster"
			objs = append(objs,
				&rbacv1.ClusterRole{TypeMeta: typeMeta("ClusterRole"), ObjectMeta: meta(name, ""), Rules: cluster},
				&rbacv1.ClusterRoleBinding{TypeMeta: typeMeta("ClusterRoleBinding"), ObjectMeta: meta(name, ""),
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}, Subjects: o.Subjects},
			)
		}
	}
	out := make([]*unstructured.Unstructured, 0, len(objs)+2)
	if o.Dynamic {
		// RBAC cannot say "only namespaces labelled review": confine the
		// deployer to its environment's namespaces with an admission policy.
		out = append(out, ConfinementPolicy(o.App, o.Environment, o.Subjects)...)
	}
	for _, obj := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		out = append(out, u)
	}
	return out, nil
}

// DeployRoleBinding binds the deploy ClusterRole of a dynamic environment to
// subjects inside one of its namespaces; skiff creates it with the
// namespace.
func DeployRoleBinding(app, environment, namespace string, subjects []rbacv1.Subject) *rbacv1.RoleBinding {
	name := DeployRoleName(app, environment)
	return &rbacv1.RoleBinding{
		TypeMeta:   typeMeta("RoleBinding"),
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelApp: app, LabelEnvironment: environment}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   subjects,
	}
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: kind}
}

// rulesFor turns the manifests' kinds into rules, plus what skiff itself
// touches: its inventory and release records (ConfigMaps, Secrets) and what
// the status check reads (pods, replica sets, events).
func rulesFor(kinds []schema.GroupVersionKind, mapper meta.RESTMapper) (namespaced, cluster []rbacv1.PolicyRule, err error) {
	ns := map[string]map[string]bool{"": {"configmaps": true, "secrets": true}}
	cl := map[string]map[string]bool{}
	for _, gvk := range kinds {
		resource, scoped, err := resourceOf(gvk, mapper)
		if err != nil {
			return nil, nil, err
		}
		target := ns
		if !scoped {
			target = cl
		}
		if target[gvk.Group] == nil {
			target[gvk.Group] = map[string]bool{}
		}
		target[gvk.Group][resource] = true
	}
	namespaced = toRules(ns, deployVerbs)
	namespaced = append(namespaced,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events", "pods"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list", "watch"}},
	)
	return namespaced, toRules(cl, deployVerbs), nil
}

func resourceOf(gvk schema.GroupVersionKind, mapper meta.RESTMapper) (string, bool, error) {
	if mapper != nil {
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return "", false, fmt.Errorf("kind %s: %w", gvk, err)
		}
		return m.Resource.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
	}
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return plural.Resource, !clusterScopedKinds[gvk.GroupKind()], nil
}

func toRules(byGroup map[string]map[string]bool, verbs []string) []rbacv1.PolicyRule {
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	var rules []rbacv1.PolicyRule
	for _, g := range groups {
		var resources []string
		for r := range byGroup[g] {
			resources = append(resources, r)
		}
		sort.Strings(resources)
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: resources, Verbs: append([]string{}, verbs...)})
	}
	return rules
}

// ParseSubject turns "user:NAME", "group:NAME" or
// "serviceaccount:NAMESPACE:NAME" into an RBAC subject.
func ParseSubject(s string) (rbacv1.Subject, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return rbacv1.Subject{}, fmt.Errorf("subject %q: use user:NAME, group:NAME or serviceaccount:NAMESPACE:NAME", s)
	}
	switch strings.ToLower(kind) {
	case "user":
		return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: rest}, nil
	case "group":
		return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: rest}, nil
	case "serviceaccount", "sa":
		ns, name, ok := strings.Cut(rest, ":")
		if !ok || ns == "" || name == "" {
			return rbacv1.Subject{}, fmt.Errorf("subject %q: use serviceaccount:NAMESPACE:NAME", s)
		}
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}, nil
	}
	return rbacv1.Subject{}, fmt.Errorf("subject %q: unknown kind %q (user, group, serviceaccount)", s, kind)
}

// KindsOf lists the kinds of objs, each once, in order of appearance: what
// RBACOptions.Kinds takes from an environment's rendered manifests.
func KindsOf(objs []manifest.Object) []schema.GroupVersionKind {
	var kinds []schema.GroupVersionKind
	seen := map[schema.GroupVersionKind]bool{}
	for _, o := range objs {
		if gvk := o.GroupVersionKind(); !seen[gvk] {
			seen[gvk] = true
			kinds = append(kinds, gvk)
		}
	}
	return kinds
}
