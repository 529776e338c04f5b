package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/status"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// deletion deletes objects of one inventory: only those carrying its mark,
// in reverse apply order (Namespaces last), each rank in parallel.
type deletion struct {
	id          string // the inventory mark objects must carry
	propagation metav1.DeletionPropagation
	action      Action // Pruned or Deleted
	protectNS   string // a namespace never to delete: it holds the inventory
	onEvent     func(Event)

	mu      sync.Mutex
	changes []Change
	deleted []status.Ref
	left    []ObjectRef // not deleted because of an error: stay in the inventory
	errs    []error
}

func (d *deletion) run(ctx context.Context, a *Applier, refs []ObjectRef) {
	refs = append([]ObjectRef{}, refs...)
	sort.SliceStable(refs, func(i, j int) bool {
		return manifest.Rank(refs[i].Kind) > manifest.Rank(refs[j].Kind)
	})
	for start := 0; start < len(refs); {
		end := start
		for end < len(refs) && manifest.Rank(refs[end].Kind) == manifest.Rank(refs[start].Kind) {
			end++
		}
		var g errgroup.Group
		g.SetLimit(parallelism)
		for _, r := range refs[start:end] {
			g.Go(func() error {
				d.one(ctx, a, r)
				return nil
			})
		}
		_ = g.Wait()
		start = end
	}
}

func (d *deletion) one(ctx context.Context, a *Applier, r ObjectRef) {
	c, ref, err := d.delete(ctx, a, r)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.left = append(d.left, r)
		d.errs = append(d.errs, err)
		return
	}
	d.changes = append(d.changes, c)
	if ref != nil {
		d.deleted = append(d.deleted, *ref)
	}
	if d.onEvent != nil {
		d.onEvent(Event{Type: EventChange, Change: c})
	}
}

func (d *deletion) delete(ctx context.Context, a *Applier, r ObjectRef) (Change, *status.Ref, error) {
	c := Change{Object: r, Action: Skipped}
	if r.Group == "" && r.Kind == "Namespace" && r.Name == d.protectNS {
		c.Reason = "it holds the application's inventory"
		return c, nil, nil
	}
	m, err := a.mappingFor(ctx, r.GroupKind(), "")
	if errors.Is(err, errNoMatch) {
		c.Reason = "the cluster no longer serves its kind"
		return c, nil, nil
	}
	if err != nil {
		return c, nil, err
	}
	ri := a.dynamic.Resource(m.gvr).Namespace(r.Namespace)
	live, err := ri.Get(ctx, r.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		c.Action, c.Reason = d.action, "already gone"
		return c, nil, nil
	}
	if err != nil {
		return c, nil, fmt.Errorf("reading %s: %w", r, err)
	}
	if owner := live.GetAnnotations()[AnnotationInventory]; owner != d.id {
		c.Reason = fmt.Sprintf("its %s mark is %q, not %q: skiff did not create it for this application", AnnotationInventory, owner, d.id)
		return c, nil, nil
	}
	uid := live.GetUID()
	prop := d.propagation
	if prop == metav1.DeletePropagationForeground && !ownsDependents[r.GroupKind()] {
		// Foreground deletion waits for the garbage collector, which may not
		// know a new kind for a while: only worth it where there are
		// dependents to wait for.
		prop = metav1.DeletePropagationBackground
	}
	err = ri.Delete(ctx, r.Name, metav1.DeleteOptions{
		PropagationPolicy: &prop,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	switch {
	case apierrors.IsNotFound(err):
		c.Action, c.Reason = d.action, "already gone"
		return c, nil, nil
	case apierrors.IsConflict(err):
		c.Reason = "it was replaced by another object of the same name meanwhile"
		return c, nil, nil
	case err != nil:
		return c, nil, fmt.Errorf("deleting %s: %w", r, err)
	}
	c.Action = d.action
	return c, &status.Ref{Resource: m.gvr, Kind: r.GroupKind(), Namespace: r.Namespace, Name: r.Name}, nil
}

// ownsDependents are the kinds whose controllers create objects (ReplicaSets,
// pods) that a waiting delete should see gone too.
var ownsDependents = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}:  true,
	{Group: "apps", Kind: "ReplicaSet"}:  true,
	{Group: "apps", Kind: "StatefulSet"}: true,
	{Group: "apps", Kind: "DaemonSet"}:   true,
	{Group: "batch", Kind: "Job"}:        true,
	{Group: "batch", Kind: "CronJob"}:    true,
	{Kind: "ReplicationController"}:      true,
}

func (d *deletion) err() error { return errors.Join(d.errs...) }

// deleteAll deletes refs carrying the mark id, appends the changes to
// changes, and returns the refs it could not delete.
func (a *Applier) deleteAll(ctx context.Context, refs []ObjectRef, id string, prop metav1.DeletionPropagation, action Action, protectNS string, onEvent func(Event), changes *[]Change) ([]ObjectRef, error) {
	d := &deletion{id: id, propagation: prop, action: action, protectNS: protectNS, onEvent: onEvent}
	d.run(ctx, a, refs)
	*changes = append(*changes, d.changes...)
	return d.left, d.err()
}

// DeleteOptions control a delete.
type DeleteOptions struct {
	App, Namespace string
	// Wait returns only when the objects, and what the cluster created for
	// them (ReplicaSets, pods), are gone; deletion is then foreground.
	Wait        bool
	WaitTimeout time.Duration // zero: as long as ctx allows
	// KeepHistory keeps the release records.
	KeepHistory bool
	OnEvent     func(Event)
}

// Delete deletes exactly what app's inventory in namespace lists (objects
// still carrying its mark), then the inventory and the release records.
// An application that was never applied there gives no changes and no error.
func (a *Applier) Delete(ctx context.Context, opts DeleteOptions) ([]Change, error) {
	inv, err := ReadInventory(ctx, a.core, opts.Namespace, opts.App)
	if err != nil {
		return nil, fmt.Errorf("%w; check that the cluster is reachable and --namespace is right", err)
	}
	if !inv.Exists {
		return nil, nil
	}
	prop := metav1.DeletePropagationBackground
	if opts.Wait {
		prop = metav1.DeletePropagationForeground
	}
	var namespaces, others []ObjectRef
	for _, r := range inv.Objects {
		if r.Group == "" && r.Kind == "Namespace" {
			namespaces = append(namespaces, r)
		} else {
			others = append(others, r)
		}
	}
	d := &deletion{id: inv.ID(), propagation: prop, action: Deleted, onEvent: opts.OnEvent}
	d.run(ctx, a, others)
	if err := d.err(); err != nil {
		if werr := a.writeInventory(ctx, opts.Namespace, opts.App, union(d.left, namespaces)); werr != nil {
			err = errors.Join(err, werr)
		}
		return d.changes, err
	}
	if !opts.KeepHistory {
		if err := a.records.deleteAll(ctx, opts.Namespace, opts.App); err != nil {
			return d.changes, err
		}
		if err := a.records.deleteDigestKey(ctx, opts.Namespace, opts.App); err != nil {
			return d.changes, err
		}
	}
	err = a.core.CoreV1().ConfigMaps(opts.Namespace).Delete(ctx, InventoryName(opts.App), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return d.changes, fmt.Errorf("deleting the inventory ConfigMap %s/%s: %w", opts.Namespace, InventoryName(opts.App), err)
	}
	d.run(ctx, a, namespaces)
	if err := d.err(); err != nil {
		return d.changes, err
	}
	if opts.Wait && len(d.deleted) > 0 {
		if opts.OnEvent != nil {
			opts.OnEvent(Event{Type: EventPhase, Message: fmt.Sprintf("waiting for %d objects to be gone", len(d.deleted))})
		}
		err := a.watcher.WaitDeleted(ctx, d.deleted, status.Options{Deadline: opts.WaitTimeout, OnEvent: func(e status.Event) {
			if opts.OnEvent != nil {
				opts.OnEvent(Event{Type: EventStatus, Status: e})
			}
		}})
		if err != nil {
			return d.changes, fmt.Errorf("waiting for deletion: %w", err)
		}
	}
	return d.changes, nil
}
