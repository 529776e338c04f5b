package env

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// PolicyName names the admission policy and its binding.
const PolicyName = "skiff-immutable-namespaces"

// immutableLabelled is a CEL expression: obj carries skiff.dev/immutable=true.
func immutableLabelled(obj string) string {
	return "has(" + obj + ".metadata.labels) && '" + LabelImmutable + "' in " + obj + ".metadata.labels && " +
		obj + ".metadata.labels['" + LabelImmutable + "'] == 'true'"
}

// ImmutabilityPolicy returns the ValidatingAdmissionPolicy and its binding
// that make the API server refuse to delete a namespace labelled
// skiff.dev/immutable=true, and to remove or change that label.
func ImmutabilityPolicy() []*unstructured.Unstructured {
	policy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1",
		"kind":       "ValidatingAdmissionPolicy",
		"metadata": map[string]any{
			"name":   PolicyName,
			"labels": map[string]any{LabelManagedBy: ManagedByValue},
		},
		"spec": map[string]any{
			"failurePolicy": "Fail",
			"matchConstraints": map[string]any{
				"resourceRules": []any{map[string]any{
					"apiGroups":   []any{""},
					"apiVersions": []any{"v1"},
					"operations":  []any{"DELETE", "UPDATE"},
					"resources":   []any{"namespaces"},
				}},
			},
			// Only namespaces that are immutable before the request are
			// concerned; everything else is left alone.
			"matchConditions": []any{map[string]any{
				"name":       "was-immutable",
				"expression": "oldObject != null && " + immutableLabelled("oldObject"),
			}},
			"validations": []any{
				map[string]any{
					"expression": "request.operation != 'DELETE'",
					"message":    "namespace is immutable (" + LabelImmutable + "=true): it cannot be deleted",
					"reason":     "Forbidden",
				},
				map[string]any{
					"expression": "request.operation != 'UPDATE' || (" + immutableLabelled("object") + ")",
					"message":    "namespace is immutable: the " + LabelImmutable + "=true label cannot be removed or changed",
					"reason":     "Forbidden",
				},
			},
		},
	}}
	binding := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1",
		"kind":       "ValidatingAdmissionPolicyBinding",
		"metadata": map[string]any{
			"name":   PolicyName,
			"labels": map[string]any{LabelManagedBy: ManagedByValue},
		},
		"spec": map[string]any{
			"policyName":        PolicyName,
			"validationActions": []any{"Deny"},
		},
	}}
	return []*unstructured.Unstructured{policy, binding}
}

func policyGVR(kind string) schema.GroupVersionResource {
	resource := "validatingadmissionpolicies"
	if kind == "ValidatingAdmissionPolicyBinding" {
		resource = "validatingadmissionpolicybindings"
	}
	return schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: resource}
}
