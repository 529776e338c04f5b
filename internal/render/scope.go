package render

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiff-dev/skiff/internal/manifest"
)

// Scoper says whether objects of a kind live in a namespace. A cluster's
// RESTMapper is one (see RESTMapperScoper); without one, render knows the
// built-in kinds and the CRDs of the same render.
type Scoper interface {
	Namespaced(gk schema.GroupKind) (bool, error)
}

// RESTMapperScoper answers from a RESTMapper, normally a deferred discovery
// mapper that contacts the cluster only on the first lookup.
type RESTMapperScoper struct {
	Mapper meta.RESTMapper
}

// Namespaced implements Scoper.
func (s RESTMapperScoper) Namespaced(gk schema.GroupKind) (bool, error) {
	m, err := s.Mapper.RESTMapping(gk)
	if err != nil {
		return false, err
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// clusterScoped are the built-in kinds that have no namespace.
var clusterScoped = kindSet(
	"/Namespace", "/Node", "/PersistentVolume", "/ComponentStatus",
	"rbac.authorization.k8s.io/ClusterRole", "rbac.authorization.k8s.io/ClusterRoleBinding",
	"storage.k8s.io/StorageClass", "storage.k8s.io/CSIDriver", "storage.k8s.io/CSINode",
	"storage.k8s.io/VolumeAttachment", "storage.k8s.io/VolumeAttributesClass",
	"apiextensions.k8s.io/CustomResourceDefinition", "apiregistration.k8s.io/APIService",
	"admissionregistration.k8s.io/MutatingWebhookConfiguration",
	"admissionregistration.k8s.io/ValidatingWebhookConfiguration",
	"admissionregistration.k8s.io/ValidatingAdmissionPolicy",
	"admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding",
	"admissionregistration.k8s.io/MutatingAdmissionPolicy",
	"admissionregistration.k8s.io/MutatingAdmissionPolicyBinding",
	"scheduling.k8s.io/PriorityClass", "node.k8s.io/RuntimeClass",
	"networking.k8s.io/IngressClass", "networking.k8s.io/IPAddress", "networking.k8s.io/ServiceCIDR",
	"policy/PodSecurityPolicy",
	"flowcontrol.apiserver.k8s.io/FlowSchema", "flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration",
	"certificates.k8s.io/CertificateSigningRequest", "certificates.k8s.io/ClusterTrustBundle",
	"authentication.k8s.io/TokenReview", "authentication.k8s.io/SelfSubjectReview",
	"authorization.k8s.io/SubjectAccessReview", "authorization.k8s.io/SelfSubjectAccessReview",
	"authorization.k8s.io/SelfSubjectRulesReview",
	"resource.k8s.io/DeviceClass", "resource.k8s.io/ResourceSlice",
	"internal.apiserver.k8s.io/StorageVersion",
	"storagemigration.k8s.io/StorageVersionMigration",
)

// namespaced are the built-in kinds that live in a namespace.
var namespaced = kindSet(
	"/Pod", "/Service", "/ConfigMap", "/Secret", "/ServiceAccount", "/PersistentVolumeClaim",
	"/ReplicationController", "/Endpoints", "/Event", "/LimitRange", "/ResourceQuota",
	"/PodTemplate", "/Binding",
	"apps/Deployment", "apps/StatefulSet", "apps/DaemonSet", "apps/ReplicaSet", "apps/ControllerRevision",
	"extensions/Deployment", "extensions/DaemonSet", "extensions/ReplicaSet", "extensions/Ingress",
	"extensions/NetworkPolicy",
	"batch/Job", "batch/CronJob", "autoscaling/HorizontalPodAutoscaler", "policy/PodDisruptionBudget",
	"networking.k8s.io/NetworkPolicy", "networking.k8s.io/Ingress",
	"rbac.authorization.k8s.io/Role", "rbac.authorization.k8s.io/RoleBinding",
	"discovery.k8s.io/EndpointSlice", "coordination.k8s.io/Lease", "events.k8s.io/Event",
	"storage.k8s.io/CSIStorageCapacity", "authorization.k8s.io/LocalSubjectAccessReview",
	"resource.k8s.io/ResourceClaim", "resource.k8s.io/ResourceClaimTemplate",
)

func kindSet(keys ...string) map[schema.GroupKind]bool {
	m := make(map[schema.GroupKind]bool, len(keys))
	for _, k := range keys {
		g, kind, _ := strings.Cut(k, "/")
		m[schema.GroupKind{Group: g, Kind: kind}] = true
	}
	return m
}

// scopes resolves the scope of kinds: CRDs of this render first, then the
// built-in kinds, then the caller's Scoper; unknown kinds are assumed
// namespaced (as kustomize does), with a warning.
type scopes struct {
	crds     map[schema.GroupKind]bool // namespaced?
	external Scoper
	asked    map[schema.GroupKind]bool // the external Scoper's answers
	warned   map[schema.GroupKind]bool
	warnings []string
}

func newScopes(objs []manifest.Object, external Scoper) *scopes {
	s := &scopes{crds: map[schema.GroupKind]bool{}, external: external, asked: map[schema.GroupKind]bool{}, warned: map[schema.GroupKind]bool{}}
	for _, o := range objs {
		if o.GroupKind() != (schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}) {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		s.crds[schema.GroupKind{Group: group, Kind: kind}] = scope != "Cluster"
	}
	return s
}

func (s *scopes) namespaced(gk schema.GroupKind) bool {
	if ns, ok := s.crds[gk]; ok {
		return ns
	}
	if clusterScoped[gk] {
		return false
	}
	if namespaced[gk] {
		return true
	}
	if ns, ok := s.asked[gk]; ok {
		return ns
	}
	if s.external != nil {
		ns, err := s.external.Namespaced(gk)
		if err != nil {
			ns = true
			s.warn(gk, fmt.Sprintf("kind %s is unknown to the cluster (%v); assumed namespaced", gkString(gk), oneLine(err.Error())))
		}
		s.asked[gk] = ns
		return ns
	}
	s.warn(gk, fmt.Sprintf("kind %s is neither built in nor defined by a CRD in these manifests; assumed namespaced (render without --offline to ask the cluster)", gkString(gk)))
	return true
}

func (s *scopes) warn(gk schema.GroupKind, msg string) {
	if !s.warned[gk] {
		s.warned[gk] = true
		s.warnings = append(s.warnings, msg)
	}
}

func gkString(gk schema.GroupKind) string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Kind + "." + gk.Group
}

// setNamespaces gives every namespaced object without a namespace its
// default namespace (the -n namespace, or its helm release's). An object
// that names another namespace than an explicit -n is an error, as it is
// for Skaffold and kubectl apply: the intent is contradictory.
func setNamespaces(items []item, s *scopes, explicit string) error {
	var conflicts []string
	for _, it := range items {
		ns := it.obj.GetNamespace()
		switch {
		case it.defaultNS == "":
		case ns == "":
			if s.namespaced(it.obj.GroupKind()) {
				it.obj.SetNamespace(it.defaultNS)
			}
		case explicit != "" && ns != explicit && s.namespaced(it.obj.GroupKind()):
			conflicts = append(conflicts, fmt.Sprintf("%s (from %s)", it.obj.ID(), it.source))
		}
	}
	if len(conflicts) == 0 {
		return nil
	}
	more := ""
	if len(conflicts) > 3 {
		more = fmt.Sprintf(" and %d more", len(conflicts)-3)
		conflicts = conflicts[:3]
	}
	return fmt.Errorf("-n %s conflicts with the namespace the manifests set on %s%s: drop the namespace from the manifests (kustomize: namespace:) or render without -n",
		explicit, strings.Join(conflicts, ", "), more)
}

// validateLabels checks -l labels the way the API server will.
func validateLabels(labels map[string]string) error {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("label %q: invalid key: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(labels[k]); len(errs) > 0 {
			return fmt.Errorf("label %s=%q: invalid value: %s", k, labels[k], strings.Join(errs, "; "))
		}
	}
	return nil
}

// addLabels adds labels to the object's own metadata only: never to pod
// templates, so that a label that changes per run restarts no pods.
func addLabels(objs []manifest.Object, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	for _, o := range objs {
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range labels {
			l[k] = v
		}
		o.SetLabels(l)
	}
}
