package env

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// PolicyName names the admission policy and its binding.
const PolicyName = "skiff-immutable-namespaces"

// protectProbeMessage is the policy's answer to the probe namespace.
const protectProbeMessage = "skiff env protect's probe: the immutability policy is in force"

// immutableLabelled is a CEL expression: obj carries skiff.dev/immutable=true.
func immutableLabelled(obj string) string {
	return "has(" + obj + ".metadata.labels) && '" + LabelImmutable + "' in " + obj + ".metadata.labels && " +
		obj + ".metadata.labels['" + LabelImmutable + "'] == 'true'"
}

// ImmutabilityPolicy returns the ValidatingAdmissionPolicy and its binding
// that make the API server refuse to delete a namespace labelled
// skiff.dev/immutable=true, and to remove or change that label.
func ImmutabilityPolicy() []*unstructured.Unstructured {
	return admissionPolicy(PolicyName, map[string]any{LabelManagedBy: ManagedByValue},
		map[string]any{
			"apiGroups":   []any{""},
			"apiVersions": []any{"v1"},
			"operations":  []any{"CREATE", "DELETE", "UPDATE"},
			"resources":   []any{"namespaces"},
		},
		// Only namespaces that are immutable before the request are
		// concerned, and the probe namespace skiff env protect asks to
		// create (dry run) to learn that the policy is in force; everything
		// else is left alone.
		map[string]any{"name": "was-immutable", "expression": "(oldObject != null && " + immutableLabelled("oldObject") + ") || " +
			"(request.operation == 'CREATE' && has(object.metadata.labels) && '" + LabelProtectProbe + "' in object.metadata.labels)"},
		validation("request.operation != 'DELETE'",
			"namespace is immutable ("+LabelImmutable+"=true): it cannot be deleted"),
		validation("request.operation != 'UPDATE' || ("+immutableLabelled("object")+")",
			"namespace is immutable: the "+LabelImmutable+"=true label cannot be removed or changed"),
		validation("request.operation != 'CREATE'", protectProbeMessage),
	)
}

// admissionPolicy returns a ValidatingAdmissionPolicy (failure policy Fail)
// with one resource rule, one match condition and its validations, and the
// binding that makes it deny.
func admissionPolicy(name string, labels, rule, condition map[string]any, validations ...any) []*unstructured.Unstructured {
	meta := func() map[string]any { return map[string]any{"name": name, "labels": labels} }
	policy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1",
		"kind":       "ValidatingAdmissionPolicy",
		"metadata":   meta(),
		"spec": map[string]any{
			"failurePolicy":    "Fail",
			"matchConstraints": map[string]any{"resourceRules": []any{rule}},
			"matchConditions":  []any{condition},
			"validations":      validations,
		},
	}}
	binding := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1",
		"kind":       "ValidatingAdmissionPolicyBinding",
		"metadata":   meta(),
		"spec":       map[string]any{"policyName": name, "validationActions": []any{"Deny"}},
	}}
	return []*unstructured.Unstructured{policy, binding}
}

// validation is one CEL rule of a policy; a false expression forbids the
// request with message.
func validation(expression, message string) map[string]any {
	return map[string]any{"expression": expression, "message": message, "reason": "Forbidden"}
}

func policyGVR(kind string) schema.GroupVersionResource {
	resource := "validatingadmissionpolicies"
	if kind == "ValidatingAdmissionPolicyBinding" {
		resource = "validatingadmissionpolicybindings"
	}
	return schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: resource}
}
