package manifest

import (
	"bytes"
	"io"
	"sort"

	"k8s.io/apimachinery/pkg/runtime"
	sigsyaml "sigs.k8s.io/yaml"
)

type runtimeObject = runtime.Object

// kindOrder is the apply order by kind: what others depend on comes first.
// Namespaces and CRDs lead; kinds not listed (custom resources) come last.
var kindOrder = []string{
	"Namespace",
	"CustomResourceDefinition",
	"PriorityClass",
	"NetworkPolicy",
	"ResourceQuota",
	"LimitRange",
	"PodDisruptionBudget",
	"ServiceAccount",
	"Secret",
	"ConfigMap",
	"StorageClass",
	"PersistentVolume",
	"PersistentVolumeClaim",
	"ClusterRole",
	"ClusterRoleBinding",
	"Role",
	"RoleBinding",
	"ValidatingAdmissionPolicy",
	"ValidatingAdmissionPolicyBinding",
	"Service",
	"DaemonSet",
	"Pod",
	"ReplicationController",
	"ReplicaSet",
	"Deployment",
	"HorizontalPodAutoscaler",
	"StatefulSet",
	"Job",
	"CronJob",
	"IngressClass",
	"Ingress",
	"APIService",
	"MutatingWebhookConfiguration",
	"ValidatingWebhookConfiguration",
}

var kindRank = func() map[string]int {
	m := make(map[string]int, len(kindOrder))
	for i, k := range kindOrder {
		m[k] = i
	}
	return m
}()

// Rank is the position of kind in the apply order.
func Rank(kind string) int {
	if r, ok := kindRank[kind]; ok {
		return r
	}
	return len(kindOrder)
}

// Phase groups the apply order into the steps that must follow each other:
// 0 Namespaces and CRDs; 1 what workloads use (accounts, config, RBAC,
// policies, Services); 2 the workloads and their autoscalers; 3 the rest
// (Ingresses, API services, webhooks, custom resources). Objects of one
// phase do not depend on each other and can be applied together.
func Phase(kind string) int {
	r := Rank(kind)
	switch {
	case r <= kindRank["CustomResourceDefinition"]:
		return 0
	case r < kindRank["DaemonSet"]:
		return 1
	case r <= kindRank["CronJob"]:
		return 2
	}
	return 3
}

// Sort orders objects deterministically: by kind rank, then group, kind,
// namespace and name.
func Sort(objs []Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		ra, rb := Rank(a.GetKind()), Rank(b.GetKind())
		if ra != rb {
			return ra < rb
		}
		ga, gb := a.GroupKind(), b.GroupKind()
		if ga.Group != gb.Group {
			return ga.Group < gb.Group
		}
		if ga.Kind != gb.Kind {
			return ga.Kind < gb.Kind
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}

// Encode writes objs as one YAML stream separated by "---". Keys are sorted,
// so identical objects always give identical bytes.
func Encode(w io.Writer, objs []Object) error {
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		data, err := sigsyaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		buf.Write(data)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
