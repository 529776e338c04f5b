package env

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// EnforceWait bounds how long skiff env protect and skiff env rbac --apply
// wait for the API server to enforce the admission policy they installed:
// it loads policies a moment after they are written (about a second here),
// and until then a delete it should refuse goes through.
var EnforceWait = time.Minute

// Install applies skiff's own objects (RBAC, admission policies) with
// server-side apply, as the caller, in order.
func Install(ctx context.Context, dyn dynamic.Interface, objs []*unstructured.Unstructured) error {
	for _, obj := range objs {
		gvr, _ := meta.UnsafeGuessKindToResource(obj.GroupVersionKind())
		data, err := json.Marshal(obj.Object)
		if err != nil {
			return err
		}
		force := true
		opts := metav1.PatchOptions{FieldManager: "skiff", Force: &force}
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if ns := obj.GetNamespace(); ns != "" {
			ri = dyn.Resource(gvr).Namespace(ns)
		}
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts); err != nil {
			return fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// waitDenied repeats probe until the API server denies its request with a
// message containing want, at most EnforceWait. probe makes one dry-run
// request and returns its error.
func waitDenied(ctx context.Context, what, want string, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, EnforceWait)
	defer cancel()
	var last error
	for {
		err := probe(ctx)
		if err != nil && apierrors.IsForbidden(err) && strings.Contains(err.Error(), want) {
			return nil
		}
		if err != nil && !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) && ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = errors.New("the request was allowed")
			}
			return fmt.Errorf("%s is not enforced by the API server after %s (last probe: %v); check that the ValidatingAdmissionPolicy admission plugin is enabled and the policy is bound", what, EnforceWait, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LabelProtectProbe marks the namespace skiff env protect asks the API
// server to create, in a dry run, to learn that the immutability policy is
// in force when no namespace is immutable yet.
const LabelProtectProbe = "skiff.dev/protect-probe"

// WaitProtected returns once the API server enforces the immutability
// policy: a server-side dry-run delete of every immutable namespace is
// denied, as a user's delete would be, and so is removing the label from
// the first one; with no immutable namespace, the dry-run creation of a
// probe namespace the policy refuses.
func WaitProtected(ctx context.Context, client kubeclient.Interface) error {
	dry := []string{metav1.DryRunAll}
	list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: LabelImmutable + "=true"})
	if err != nil {
		return fmt.Errorf("listing immutable namespaces: %w", err)
	}
	if len(list.Items) == 0 {
		probe := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "skiff-protect-probe", Labels: map[string]string{LabelProtectProbe: "true"}}}
		return waitDenied(ctx, "ValidatingAdmissionPolicy "+PolicyName, protectProbeMessage, func(ctx context.Context) error {
			_, err := client.CoreV1().Namespaces().Create(ctx, probe, metav1.CreateOptions{DryRun: dry})
			return err
		})
	}
	for i, ns := range list.Items {
		name := ns.Name
		if err := waitDenied(ctx, "ValidatingAdmissionPolicy "+PolicyName+" (deleting namespace "+name+")", "cannot be deleted", func(ctx context.Context) error {
			return client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{DryRun: dry})
		}); err != nil {
			return err
		}
		if i > 0 {
			continue
		}
		unlabel, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{LabelImmutable: nil}}})
		if err := waitDenied(ctx, "ValidatingAdmissionPolicy "+PolicyName+" (removing the label of namespace "+name+")", "cannot be removed", func(ctx context.Context) error {
			_, err := client.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, unlabel, metav1.PatchOptions{DryRun: dry})
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// WaitConfined returns once the API server enforces the confinement policy
// of app's dynamic environment: the deployer (the first subject,
// impersonated with cfg, which must be the administrator's) is refused the
// dry-run creation of a namespace that is not the environment's, which its
// RBAC allows.
func WaitConfined(ctx context.Context, cfg *rest.Config, app, environment string, subjects []rbacv1.Subject) error {
	if len(subjects) == 0 {
		return errors.New("no subject to check the confinement policy with")
	}
	as := rest.CopyConfig(cfg)
	switch s := subjects[0]; s.Kind {
	case rbacv1.ServiceAccountKind:
		as.Impersonate.UserName = "system:serviceaccount:" + s.Namespace + ":" + s.Name
	case rbacv1.GroupKind:
		as.Impersonate.UserName, as.Impersonate.Groups = "skiff:confinement-probe", []string{s.Name}
	default:
		as.Impersonate.UserName = s.Name
	}
	client, err := kubeclient.NewForConfig(as)
	if err != nil {
		return err
	}
	probe := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DNSLabel("skiff-confine-probe-" + app + "-" + environment)}}
	return waitDenied(ctx, "ValidatingAdmissionPolicy "+ConfinementPolicyName(app, environment), "may only create, change or delete namespaces", func(ctx context.Context) error {
		_, err := client.CoreV1().Namespaces().Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	})
}
