package env

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// Namespace is what the cluster says about an environment's namespace.
type Namespace struct {
	Name        string
	App         string
	Environment string
	// Ref is the ref as deployed (from the annotation), else its slug.
	Ref string
	// CreatedBySkiff is true when skiff created the namespace (and may
	// delete it when the environment stops).
	CreatedBySkiff bool
	Immutable      bool
	// ExpiresAt is zero for environments that do not expire.
	ExpiresAt time.Time
	URL       string
	Created   time.Time
}

// Expired reports whether a dynamic environment's namespace is past its
// expiry at now.
func (n Namespace) Expired(now time.Time) bool {
	return !n.ExpiresAt.IsZero() && now.After(n.ExpiresAt)
}

func fromNamespace(ns *corev1.Namespace) Namespace {
	l := ns.Labels
	out := Namespace{
		Name:           ns.Name,
		App:            l[LabelApp],
		Environment:    l[LabelEnvironment],
		Ref:            l[LabelRef],
		CreatedBySkiff: l[LabelManagedBy] == ManagedByValue,
		Immutable:      l[LabelImmutable] == "true",
		URL:            ns.Annotations[AnnotationURL],
		Created:        ns.CreationTimestamp.Time,
	}
	if r := ns.Annotations[AnnotationRef]; r != "" {
		out.Ref = r
	}
	if s := l[LabelExpiresAt]; s != "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			out.ExpiresAt = time.Unix(sec, 0).UTC()
		}
	}
	return out
}

// ListNamespaces returns the namespaces of app's environments (all apps when
// app is empty), optionally of one environment, sorted by name.
func ListNamespaces(ctx context.Context, client kubeclient.Interface, app, environment string) ([]Namespace, error) {
	sel := labels.Set{}
	if app != "" {
		sel[LabelApp] = app
	}
	if environment != "" {
		sel[LabelEnvironment] = environment
	}
	selector := LabelApp
	if len(sel) > 0 {
		selector = sel.String()
	}
	list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing environment namespaces: %w", err)
	}
	out := make([]Namespace, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, fromNamespace(&list.Items[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetNamespace returns what the cluster says about one namespace; ok is
// false when it does not exist.
func GetNamespace(ctx context.Context, client kubeclient.Interface, name string) (Namespace, bool, error) {
	ns, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Namespace{}, false, nil
	}
	if err != nil {
		return Namespace{}, false, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return fromNamespace(ns), true, nil
}

// NamespaceLabels are the labels skiff puts on a namespace it creates for
// an environment; expiresAt is zero for environments that do not expire.
func NamespaceLabels(app, environment string, ref Ref, immutable bool, expiresAt time.Time) map[string]string {
	l := map[string]string{
		LabelManagedBy:   ManagedByValue,
		LabelApp:         app,
		LabelEnvironment: environment,
	}
	if ref.Name != "" {
		l[LabelRef] = RefSlug(ref.Name)
	}
	if immutable {
		l[LabelImmutable] = "true"
	}
	if !expiresAt.IsZero() {
		l[LabelExpiresAt] = strconv.FormatInt(expiresAt.Unix(), 10)
	}
	return l
}

// Touch updates the labels and annotations of a namespace skiff created, so
// a re-deploy extends a dynamic environment's expiry and records its ref and
// URL. Namespaces skiff did not create are left alone.
func Touch(ctx context.Context, client kubeclient.Interface, name string, labels, annotations map[string]string) error {
	ns, ok, err := GetNamespace(ctx, client, name)
	if err != nil || !ok || !ns.CreatedBySkiff {
		return err
	}
	patch := map[string]any{"metadata": map[string]any{"labels": labels, "annotations": annotations}}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{FieldManager: "skiff"}); err != nil {
		return fmt.Errorf("labelling namespace %s: %w", name, err)
	}
	return nil
}

// DeleteNamespace deletes a namespace skiff created and waits until it is
// gone or ctx ends. It refuses namespaces skiff did not create and immutable
// ones.
func DeleteNamespace(ctx context.Context, client kubeclient.Interface, name string) error {
	ns, ok, err := GetNamespace(ctx, client, name)
	if err != nil || !ok {
		return err
	}
	if !ns.CreatedBySkiff {
		return fmt.Errorf("namespace %s was not created by skiff; leaving it", name)
	}
	if ns.Immutable {
		return fmt.Errorf("namespace %s is immutable (%s=true); skiff does not delete it", name, LabelImmutable)
	}
	if err := client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting namespace %s: %w", name, err)
	}
	if err := watchGone(ctx, client, name); err != nil {
		return fmt.Errorf("namespace %s is still terminating: %w", name, err)
	}
	return nil
}

// Protect installs the immutability admission policy with server-side
// apply. It does not wait for the API server to enforce it (WaitProtected).
func Protect(ctx context.Context, dyn dynamic.Interface) error {
	return Install(ctx, dyn, ImmutabilityPolicy())
}

// EnsureNamespace creates namespace name with labels when it does not exist.
// It reports whether it created it.
func EnsureNamespace(ctx context.Context, client kubeclient.Interface, name string, labels, annotations map[string]string) (bool, error) {
	if _, ok, err := GetNamespace(ctx, client, name); err != nil || ok {
		return false, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations}}
	_, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: "skiff"})
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return true, nil
}
