package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/skiff-dev/skiff/internal/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Rollback re-applies the manifests of revision rev of opts.App in
// opts.Namespace as a new revision, with opts' status check and failure
// policy; objects added after rev are pruned (when opts.Prune). A record
// that does not verify (Records.Verified) is refused before anything is
// applied, with an error wrapping ErrUnverified.
func (a *Applier) Rollback(ctx context.Context, rev int, opts Options) (*Result, error) {
	// Only a record skiff signed is applied again: anyone who may write
	// Secrets in the namespace could have written this one.
	rec, objs, err := a.records.Verified(ctx, opts.Namespace, opts.App, rev, recordKeyOf(opts))
	if err != nil {
		return nil, err
	}
	opts.Release.RollbackOf = rev
	opts.Secrets, opts.keep = nil, keptSecrets(rec) // live, as they are: see secrets.go
	if opts.Release.Commit == "" && opts.Release.Tag == "" {
		opts.Release.Commit, opts.Release.Tag = rec.Commit, rec.Tag
	}
	if opts.Release.Description == "" {
		opts.Release.Description = fmt.Sprintf("rollback to revision %d", rev)
	}
	return a.Apply(ctx, objs, opts)
}

// Health is the status of every object in app's inventory in namespace, at
// this moment (one read, no waiting): what an environment list shows.
func (a *Applier) Health(ctx context.Context, namespace, app string) ([]status.Event, error) {
	inv, err := ReadInventory(ctx, a.core, namespace, app)
	if err != nil {
		return nil, err
	}
	pods := map[string][]*corev1.Pod{}
	sets := map[string][]*appsv1.ReplicaSet{}
	var out []status.Event
	for _, r := range inv.Objects {
		m, err := a.mappingFor(ctx, r.GroupKind(), "")
		if errors.Is(err, errNoMatch) {
			out = append(out, status.Event{Ref: status.Ref{Kind: r.GroupKind(), Namespace: r.Namespace, Name: r.Name}, Result: status.Result{Status: status.NotFound, Message: "the cluster no longer serves its kind"}})
			continue
		}
		if err != nil {
			return nil, err
		}
		ref := status.Ref{Resource: m.gvr, Kind: r.GroupKind(), Namespace: r.Namespace, Name: r.Name}
		obj, err := a.dynamic.Resource(m.gvr).Namespace(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			out = append(out, status.Event{Ref: ref, Result: status.Compute(nil, nil)})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", r, err)
		}
		if r.Namespace != "" && pods[r.Namespace] == nil {
			if pods[r.Namespace], sets[r.Namespace], err = a.podsOf(ctx, r.Namespace); err != nil {
				return nil, err
			}
		}
		cur := status.CurrentPods(obj, sets[r.Namespace], pods[r.Namespace])
		out = append(out, status.Event{Ref: ref, Result: status.Compute(obj, cur)})
	}
	return out, nil
}

// podsOf lists namespace's pods and ReplicaSets; without the right to list
// them, health is computed from the objects alone.
func (a *Applier) podsOf(ctx context.Context, namespace string) ([]*corev1.Pod, []*appsv1.ReplicaSet, error) {
	pods := []*corev1.Pod{}
	var sets []*appsv1.ReplicaSet
	pl, err := a.core.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsForbidden(err) {
		return nil, nil, fmt.Errorf("listing pods in namespace %q: %w", namespace, err)
	}
	if err == nil {
		for i := range pl.Items {
			pods = append(pods, &pl.Items[i])
		}
	}
	rl, err := a.core.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsForbidden(err) {
		return nil, nil, fmt.Errorf("listing ReplicaSets in namespace %q: %w", namespace, err)
	}
	if err == nil {
		for i := range rl.Items {
			sets = append(sets, &rl.Items[i])
		}
	}
	return pods, sets, nil
}
