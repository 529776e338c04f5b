package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// realNodePolicy is the MutatingAdmissionPolicy that sends pods to the
// real node: it adds the node's label to their nodeSelector and a
// toleration of its taint. Bindings choose the namespaces it applies to.
const realNodePolicy = "skiff-testenv-real-node"

// runRealNodePolicy installs realNodePolicy for the node label key=value
// and taint key=value:effect, and a binding of the same name for the
// namespaces labelled skiff.dev/testenv-real-node=true (testenv.RealNode's
// namespaces). With -binding NAME -selector SEL it installs only another
// binding, for namespaces matching the label selector SEL, such as a
// demo's environments.
func runRealNodePolicy(ctx context.Context, args []string) error {
	fs := newFlags("real-node-policy")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the sandbox cluster")
	label := fs.String("label", "", "the real node's label, key=value")
	taint := fs.String("taint", "", "the real node's taint, key=value:effect")
	binding := fs.String("binding", "", "install only a binding of this name")
	selector := fs.String("selector", "skiff.dev/testenv-real-node=true", "namespaces the binding applies to (label selector)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cs, err := clientset(*kubeconfig)
	if err != nil {
		return err
	}
	sel, err := metav1.ParseToLabelSelector(*selector)
	if err != nil {
		return fmt.Errorf("-selector: %w", err)
	}
	if _, err := labels.Parse(*selector); err != nil {
		return fmt.Errorf("-selector: %w", err)
	}
	if *binding != "" {
		return applyBinding(ctx, cs, *binding, sel)
	}
	key, value, ok := strings.Cut(*label, "=")
	tkv, effect, ok2 := strings.Cut(*taint, ":")
	tkey, tvalue, ok3 := strings.Cut(tkv, "=")
	if !ok || !ok2 || !ok3 || key == "" || tkey == "" || effect == "" {
		return errors.New("want -label key=value and -taint key=value:effect")
	}
	if err := applyPolicy(ctx, cs, key, value, tkey, tvalue, effect); err != nil {
		return err
	}
	return applyBinding(ctx, cs, realNodePolicy, sel)
}

func applyPolicy(ctx context.Context, cs kubernetes.Interface, key, value, tkey, tvalue, effect string) error {
	toleration := fmt.Sprintf(`Object.spec.tolerations{key: %q, operator: "Equal", value: %q, effect: %q}`, tkey, tvalue, effect)
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: realNodePolicy},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			FailurePolicy: new(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
					},
				}},
			},
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
			// nodeSelector and tolerations are atomic, which an apply
			// configuration may not change: add to them with JSON patches.
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{
					Expression: fmt.Sprintf(`(has(object.spec.nodeSelector) ?
  [JSONPatch{op: "add", path: "/spec/nodeSelector/" + jsonpatch.escapeKey(%[1]q), value: %[2]q}] :
  [JSONPatch{op: "add", path: "/spec/nodeSelector", value: {%[1]q: %[2]q}}]) +
(has(object.spec.tolerations) ?
  [JSONPatch{op: "add", path: "/spec/tolerations/-", value: %[3]s}] :
  [JSONPatch{op: "add", path: "/spec/tolerations", value: [%[3]s]}])`, key, value, toleration),
				},
			}},
		},
	}
	data, err := json.Marshal(policy)
	if err != nil {
		return err
	}
	_, err = cs.AdmissionregistrationV1().MutatingAdmissionPolicies().Patch(ctx, realNodePolicy, types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: fieldManager, Force: new(true)})
	if err != nil {
		return fmt.Errorf("applying MutatingAdmissionPolicy %s: %w", realNodePolicy, err)
	}
	return nil
}

func applyBinding(ctx context.Context, cs kubernetes.Interface, name string, sel *metav1.LabelSelector) error {
	b := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{
			PolicyName:     realNodePolicy,
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: sel},
		},
	}
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	_, err = cs.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Patch(ctx, name, types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: fieldManager, Force: new(true)})
	if err != nil {
		return fmt.Errorf("applying MutatingAdmissionPolicyBinding %s: %w", name, err)
	}
	return nil
}
