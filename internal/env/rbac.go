package env

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apply"
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
	// Objects are the objects of the environment's rendered manifests
	// (ObjectsOf): namespaced kinds are granted in the environment's
	// namespaces, cluster-scoped objects by name only.
	Objects []ObjectID
	// AllowClusterObjects are the environment's allowClusterObjects
	// ("Kind/name" or "Kind.group/name"): a dynamic environment's
	// cluster-scoped objects must all be listed, and so must a long-lived
	// one's when the list is not empty.
	AllowClusterObjects []string
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
	namespaced, clusterObjs, err := split(o.Objects, o.Mapper)
	if err != nil {
		return nil, err
	}
	if o.Dynamic {
		// A dynamic environment's namespaces are its own, confined by the
		// admission policy; Namespace objects need no rule by name.
		clusterObjs = slices.DeleteFunc(clusterObjs, func(c clusterObject) bool { return c.Group == "" && c.Resource == "namespaces" })
	}
	if err := checkClusterObjects(o, clusterObjs); err != nil {
		return nil, err
	}
	cluster := clusterRules(clusterObjs)
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
		// deploy reads its namespace (exists? immutable? terminating?):
		// that one, by name.
		cluster = append([]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"},
			ResourceNames: []string{o.Namespace}, Verbs: []string{"get", "list", "watch"}}}, cluster...)
		{
			name := "skiff:" + o.App + ":" + o.Environment + ":cluster"
			objs = append(objs,
				&rbacv1.ClusterRole{TypeMeta: typeMeta("ClusterRole"), ObjectMeta: meta(name, ""), Rules: cluster},
				&rbacv1.ClusterRoleBinding{TypeMeta: typeMeta("ClusterRoleBinding"), ObjectMeta: meta(name, ""),
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}, Subjects: o.Subjects},
			)
		}
	}
	objs = append(objs, recordKeyAccess(o, labels)...)
	out := make([]*unstructured.Unstructured, 0, len(objs)+2)
	if o.Dynamic {
		// RBAC cannot say "only namespaces labelled review": confine the
		// deployer to its environment's namespaces with an admission policy.
		out = append(out, ConfinementPolicy(o.App, o.Environment, o.Subjects, clusterObjs)...)
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

// RecordKeyRoleName names the Role in apply.KeyNamespace that lets an
// environment's deployer read the key its release records are signed with.
func RecordKeyRoleName(app, environment string) string {
	return "skiff:" + app + ":" + environment + ":record-key"
}

// recordKeyAccess lets the deployer get the environment's record key, by
// name, in apply.KeyNamespace: the namespace, a Role and its RoleBinding.
// The deployer may not create, change or list keys, and the application
// namespace's edit users have no rights there, so they can neither read
// the key nor forge a record a rollback would apply. skiff env rbac
// --apply creates the key itself (Records.EnsureRecordKey).
func recordKeyAccess(o RBACOptions, labels map[string]string) []runtime.Object {
	name := RecordKeyRoleName(o.App, o.Environment)
	meta := metav1.ObjectMeta{Name: name, Namespace: apply.KeyNamespace, Labels: labels}
	return []runtime.Object{
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: apply.KeyNamespace, Labels: map[string]string{LabelManagedBy: ManagedByValue}}},
		&rbacv1.Role{TypeMeta: typeMeta("Role"), ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"},
			ResourceNames: []string{apply.RecordKeyName(o.App, o.Environment)},
		}}},
		&rbacv1.RoleBinding{TypeMeta: typeMeta("RoleBinding"), ObjectMeta: meta,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}, Subjects: o.Subjects},
	}
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

// ObjectID is one object of an environment's manifests as RBAC sees it:
// its kind and name.
type ObjectID struct {
	schema.GroupVersionKind
	Name string
}

// clusterObject is a cluster-scoped object of the manifests, by resource.
type clusterObject struct {
	Group, Resource, Kind, Name string
}

// String is how allowClusterObjects names the object: Kind/name, or
// Kind.group/name.
func (c clusterObject) String() string {
	if c.Group == "" {
		return c.Kind + "/" + c.Name
	}
	return c.Kind + "." + c.Group + "/" + c.Name
}

// split turns the manifests' objects into the namespaced rules, plus what
// skiff itself touches (its inventory and release records, ConfigMaps and
// Secrets; what the status check reads: pods, replica sets, events), and
// the cluster-scoped objects, each once.
func split(objs []ObjectID, mapper meta.RESTMapper) (namespaced []rbacv1.PolicyRule, cluster []clusterObject, err error) {
	ns := map[string]map[string]bool{"": {"configmaps": true, "secrets": true}}
	seen := map[clusterObject]bool{}
	for _, o := range objs {
		resource, scoped, err := resourceOf(o.GroupVersionKind, mapper)
		if err != nil {
			return nil, nil, err
		}
		if !scoped {
			c := clusterObject{Group: o.Group, Resource: resource, Kind: o.Kind, Name: o.Name}
			if !seen[c] {
				seen[c] = true
				cluster = append(cluster, c)
			}
			continue
		}
		if ns[o.Group] == nil {
			ns[o.Group] = map[string]bool{}
		}
		ns[o.Group][resource] = true
	}
	namespaced = toRules(ns, deployVerbs)
	namespaced = append(namespaced,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events", "pods"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list", "watch"}},
	)
	sort.Slice(cluster, func(i, j int) bool { return cluster[i].String() < cluster[j].String() })
	return namespaced, cluster, nil
}

// clusterRules grant the deploy verbs on each cluster-scoped object by
// name (resourceNames), never on its whole kind: a deployer whose manifests
// hold one CRD may not delete another team's. (list and watch by name are
// what the status check does, with a metadata.name field selector.)
func clusterRules(objs []clusterObject) []rbacv1.PolicyRule {
	var rules []rbacv1.PolicyRule
	for _, c := range objs {
		if n := len(rules); n > 0 && rules[n-1].APIGroups[0] == c.Group && rules[n-1].Resources[0] == c.Resource {
			rules[n-1].ResourceNames = append(rules[n-1].ResourceNames, c.Name)
			continue
		}
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{c.Group}, Resources: []string{c.Resource}, ResourceNames: []string{c.Name}, Verbs: append([]string{}, deployVerbs...)})
	}
	sort.SliceStable(rules, func(i, j int) bool {
		if rules[i].APIGroups[0] != rules[j].APIGroups[0] {
			return rules[i].APIGroups[0] < rules[j].APIGroups[0]
		}
		return rules[i].Resources[0] < rules[j].Resources[0]
	})
	for i := range rules {
		sort.Strings(rules[i].ResourceNames)
		rules[i].ResourceNames = slices.Compact(rules[i].ResourceNames)
	}
	return rules
}

// checkClusterObjects refuses cluster-scoped objects a deployer must not
// write: ones named like skiff's own RBAC and admission objects, and, for a
// dynamic environment (or one with allowClusterObjects), ones not listed.
func checkClusterObjects(o RBACOptions, objs []clusterObject) error {
	allowed := map[string]bool{}
	for _, a := range o.AllowClusterObjects {
		kind, name, ok := strings.Cut(a, "/")
		if !ok || kind == "" || name == "" {
			return fmt.Errorf("environments[%s].allowClusterObjects: %q is not Kind/name (e.g. CustomResourceDefinition/widgets.example.com)", o.Environment, a)
		}
		allowed[a] = true
	}
	var unlisted []string
	for _, c := range objs {
		if (c.Group == rbacv1.GroupName && strings.HasPrefix(c.Name, "skiff:")) || (c.Group == "admissionregistration.k8s.io" && strings.HasPrefix(c.Name, "skiff-")) {
			return fmt.Errorf("environment %s: the manifests hold %s, named like skiff's own RBAC and admission objects; rename it", o.Environment, c)
		}
		if (o.Dynamic || len(o.AllowClusterObjects) > 0) && !allowed[c.String()] && !allowed[c.Kind+"/"+c.Name] {
			unlisted = append(unlisted, fmt.Sprintf("%q", c.Kind+"/"+c.Name))
		}
	}
	if len(unlisted) > 0 {
		what := "a review (dynamic) environment"
		if !o.Dynamic {
			what = "this environment"
		}
		return fmt.Errorf("environment %s: the manifests hold cluster-scoped objects, which %s may write only when listed: add %s to environments[%s].allowClusterObjects, or move them out of the environment's manifests", o.Environment, what, strings.Join(unlisted, ", "), o.Environment)
	}
	return nil
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

// ObjectsOf lists the kinds and names of objs: what RBACOptions.Objects
// takes from an environment's rendered manifests.
func ObjectsOf(objs []manifest.Object) []ObjectID {
	out := make([]ObjectID, 0, len(objs))
	for _, o := range objs {
		out = append(out, ObjectID{GroupVersionKind: o.GroupVersionKind(), Name: o.GetName()})
	}
	return out
}
