package apply

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/status"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// crdEstablishedDeadline bounds the wait for this apply's CRDs.
const crdEstablishedDeadline = 2 * time.Minute

// Apply server-side applies objs to the cluster as one release of opts.App
// in opts.Namespace. Everything is validated first (kinds, namespaces,
// RBAC, admission, conflicts, by a dry run of the whole set): a
// *ValidationError means nothing was written. Then namespaces and CRDs go
// first, the rest follows in dependency order, a release record is written,
// the status check waits for readiness, and objects that left the set are
// pruned. On failure, opts.OnFailure decides what happens; the Result says
// what was done either way.
func (a *Applier) Apply(ctx context.Context, objs []manifest.Object, opts Options) (*Result, error) {
	if len(objs) == 0 {
		return nil, errors.New("no objects to apply: the manifests are empty (skiff will not prune everything on an empty input; use skiff delete)")
	}
	a.access.Clear() // permissions may have changed since the last apply
	a.phase(opts, "validating %d objects with a server-side dry run", len(objs))
	p, err := a.plan(ctx, objs, opts)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	return res, a.execute(ctx, p, opts, res)
}

func (a *Applier) execute(ctx context.Context, p *plan, opts Options, res *Result) error {
	ns, app := opts.Namespace, opts.App
	key, err := a.signingKey(ctx, opts)
	if err != nil {
		return err
	}
	// An unsigned current record (an earlier skiff's) is not a no-op when
	// it can be signed now: the new revision is one a rollback may use.
	if cur := p.noOp(opts); cur != nil && (cur.Signature != "" || key == nil) {
		return a.reapply(ctx, p, opts, res, cur)
	}
	if p.createNS {
		if err := a.createNamespace(ctx, opts); err != nil {
			return err
		}
	}
	// The inventory lists the new objects before any is written, so an
	// interrupted apply never leaves objects no inventory knows about.
	newRefs := p.refs()
	if err := a.writeInventory(ctx, ns, app, union(p.inventory.Objects, newRefs)); err != nil {
		return err
	}
	// Who applies is asked while the objects are written.
	kubeUser := make(chan string, 1)
	go func() { kubeUser <- whoAmI(ctx, a.core) }()
	failure := a.applyItems(ctx, p, opts, res)

	rec := &Record{
		App: app, Namespace: ns, Status: RecordPending, Time: time.Now().UTC(),
		KubeUser: <-kubeUser, Actor: opts.Release.Actor,
		Commit: opts.Release.Commit, Tag: opts.Release.Tag, Description: opts.Release.Description,
		Images: Images(p.source), RollbackOf: opts.Release.RollbackOf,
	}
	if failure == nil {
		if !opts.StatusCheck {
			rec.Status = RecordDeployed
		}
		// The status check starts watching while the record is written.
		var wait func() ([]status.Event, error)
		waitCtx, stopWait := context.WithCancel(ctx)
		if opts.StatusCheck {
			a.phase(opts, "waiting for %d objects to become ready", len(p.items))
			type waited struct {
				sts []status.Event
				err error
			}
			ch := make(chan waited, 1)
			go func() {
				sts, err := a.watcher.Wait(waitCtx, statusRefs(p.items), statusOptions(opts))
				ch <- waited{sts, err}
			}()
			wait = func() ([]status.Event, error) { w := <-ch; return w.sts, w.err }
		}
		var err error
		if rec.Secrets, err = a.secretDigests(ctx, p, opts); err == nil {
			err = a.records.create(ctx, rec, p.source, key, recordKeyOf(opts))
		}
		if err != nil {
			failure = err
			stopWait()
		}
		res.Revision = rec.Revision
		if wait != nil {
			sts, err := wait()
			if failure == nil {
				res.Statuses = sts
				if err != nil {
					failure = fmt.Errorf("status check: %w", err)
				}
			}
		}
		stopWait()
	}
	if failure != nil {
		return a.fail(ctx, p, opts, res, rec, failure)
	}

	keep := union(p.inventory.Objects, newRefs)
	var pruneErr error
	if opts.Prune {
		gone := minus(p.inventory.Objects, newRefs)
		var left []ObjectRef
		left, pruneErr = a.deleteAll(ctx, gone, inventoryID(ns, app), metav1.DeletePropagationBackground, Pruned, ns, opts.OnEvent, &res.Changes)
		keep = union(newRefs, left)
	}
	if err := a.writeInventory(ctx, ns, app, keep); err != nil {
		return errors.Join(pruneErr, err)
	}
	if rec.Status != RecordDeployed {
		rec.Status = RecordDeployed
		if err := a.records.update(ctx, rec); err != nil {
			return errors.Join(pruneErr, err)
		}
	}
	if err := a.records.trim(ctx, ns, app, opts.HistoryMax); err != nil {
		return errors.Join(pruneErr, err)
	}
	return pruneErr
}

func (a *Applier) createNamespace(ctx context.Context, opts Options) error {
	labels := map[string]string{LabelManagedBy: ManagedBy, LabelApp: opts.App}
	for k, v := range opts.NamespaceLabels {
		labels[k] = v
	}
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.Namespace, Labels: labels}}
	_, err := a.core.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %q: %w", opts.Namespace, err)
	}
	if err == nil {
		a.phase(opts, "created namespace %s", opts.Namespace)
	}
	return nil
}

// applyItems applies the plan's objects phase by phase (manifest.Phase),
// each phase's objects in parallel, waiting for CRDs to be established before their kinds are
// used. Objects the dry run found unchanged are not sent again.
func (a *Applier) applyItems(ctx context.Context, p *plan, opts Options, res *Result) error {
	changes := make([]Change, len(p.items))
	defer func() {
		for _, c := range changes {
			if c.Action != "" {
				res.Changes = append(res.Changes, c)
			}
		}
	}()
	for start := 0; start < len(p.items); {
		end := start
		phase := manifest.Phase(p.items[start].ref.Kind)
		for end < len(p.items) && manifest.Phase(p.items[end].ref.Kind) == phase {
			end++
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(parallelism)
		for i := start; i < end; i++ {
			g.Go(func() error {
				c, err := a.applyItem(gctx, p.items[i], opts)
				if err != nil {
					return err
				}
				changes[i] = c
				a.emit(opts, Event{Type: EventChange, Change: c})
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if err := a.waitForCRDs(ctx, p.items[start:end], opts); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (a *Applier) applyItem(ctx context.Context, it *item, opts Options) (Change, error) {
	c := Change{Object: it.ref, Origin: it.origin, Action: it.action}
	if it.action == Unchanged {
		return c, nil
	}
	if it.deferred {
		m, err := a.mappingFor(ctx, it.ref.GroupKind(), it.obj.GroupVersionKind().Version)
		if err != nil {
			return c, fmt.Errorf("applying %s (%s): %w", it.id(), it.origin, err)
		}
		it.m = m
	}
	_, created, err := a.ssa(ctx, it.m, it.obj, opts.Force, false)
	if err != nil {
		if cs := conflicts(err); len(cs) > 0 {
			return c, fmt.Errorf("applying %s (%s): %s", it.id(), it.origin, describeConflicts(cs))
		}
		return c, fmt.Errorf("applying %s (%s): %w", it.id(), it.origin, err)
	}
	c.Action = Configured
	if created {
		c.Action = Created
	}
	return c, nil
}

// waitForCRDs waits until the CRDs among items are established, then
// forgets the cached discovery so their kinds can be mapped.
func (a *Applier) waitForCRDs(ctx context.Context, items []*item, opts Options) error {
	var crds []*item
	for _, it := range items {
		if it.ref.Group == "apiextensions.k8s.io" && it.ref.Kind == "CustomResourceDefinition" {
			crds = append(crds, it)
		}
	}
	if len(crds) == 0 {
		return nil
	}
	a.phase(opts, "waiting for %d CRDs to be established", len(crds))
	if _, err := a.watcher.Wait(ctx, statusRefs(crds), status.Options{Deadline: crdEstablishedDeadline}); err != nil {
		return fmt.Errorf("waiting for CRDs: %w", err)
	}
	// Established does not mean discovery serves the kind yet: wait until
	// it does, so the custom resources that follow can be mapped.
	deadline := time.Now().Add(crdEstablishedDeadline)
	for _, crd := range crds {
		group, _, _ := unstructured.NestedString(crd.obj.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(crd.obj.Object, "spec", "names", "kind")
		for {
			a.resetDiscovery(ctx)
			_, err := a.mappingFor(ctx, schema.GroupKind{Group: group, Kind: kind}, "")
			if err == nil {
				break
			}
			if !errors.Is(err, errNoMatch) || time.Now().After(deadline) {
				return fmt.Errorf("CRD %s is established but the API server does not serve kind %s.%s: %w", crd.ref.Name, kind, group, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func statusRefs(items []*item) []status.Ref {
	out := make([]status.Ref, len(items))
	for i, it := range items {
		out[i] = status.Ref{Resource: it.m.gvr, Kind: schema.GroupKind{Group: it.ref.Group, Kind: it.ref.Kind}, Namespace: it.ref.Namespace, Name: it.ref.Name}
	}
	return out
}

// signingKey returns the key opts' record is signed with, creating it when
// the caller may; nil (an unsigned record, which no rollback re-applies)
// when the caller may neither read nor create it, with a note saying so.
func (a *Applier) signingKey(ctx context.Context, opts Options) ([]byte, error) {
	key, err := a.records.recordKey(ctx, recordKeyOf(opts), true)
	var ku *errKeyUnavailable
	if errors.As(err, &ku) {
		a.phase(opts, "warning: the release record is written unsigned, so no rollback will re-apply it: %v (skiff env rbac ENVIRONMENT --apply, as an administrator, creates the key and lets the deployer read it)", err)
		return nil, nil
	}
	return key, err
}

// fail records the failure and carries out opts.OnFailure.
func (a *Applier) fail(ctx context.Context, p *plan, opts Options, res *Result, rec *Record, failure error) error {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if rec.Revision > 0 {
		rec.Status, rec.Message = RecordFailed, failure.Error()
		if err := a.records.update(bg, rec); err != nil {
			failure = errors.Join(failure, err)
		}
	}
	if ctx.Err() != nil || opts.OnFailure == OnFailureKeep || opts.OnFailure == "" {
		return failure
	}
	if opts.OnFailure == OnFailureRollback {
		before := rec.Revision
		if before == 0 {
			before = math.MaxInt
		}
		prev, err := a.records.LastDeployed(ctx, opts.Namespace, opts.App, before)
		if err != nil {
			return errors.Join(failure, err)
		}
		if prev != nil {
			return a.rollback(ctx, opts, res, prev, rec.Revision, failure)
		}
		a.phase(opts, "no earlier revision deployed successfully: deleting what this apply created instead of rolling back")
	}
	return a.deleteCreated(ctx, p, opts, res, failure)
}

func (a *Applier) rollback(ctx context.Context, opts Options, res *Result, prev *Record, failed int, failure error) error {
	a.phase(opts, "rolling back to revision %d", prev.Revision)
	prev, objs, err := a.records.Verified(ctx, opts.Namespace, opts.App, prev.Revision, recordKeyOf(opts))
	if errors.Is(err, ErrUnverified) {
		return fmt.Errorf("%w; %v", failure, err)
	}
	if err != nil {
		return fmt.Errorf("%w; rollback impossible: %v", failure, err)
	}
	ro := opts
	ro.OnFailure = OnFailureKeep
	// The failed apply's vault Secrets stay live: see secrets.go.
	ro.Secrets, ro.keep = nil, union(keptSecrets(prev), secretRefs(opts))
	ro.Release = ReleaseInfo{
		Actor: opts.Release.Actor, Commit: prev.Commit, Tag: prev.Tag,
		Description: fmt.Sprintf("rollback to revision %d", prev.Revision),
		RollbackOf:  prev.Revision,
	}
	if failed > 0 {
		ro.Release.Description += fmt.Sprintf(" after revision %d failed", failed)
	}
	rres, err := a.Apply(ctx, objs, ro)
	res.RolledBack = rres
	if err != nil {
		return fmt.Errorf("%w; rolling back to revision %d failed too: %v", failure, prev.Revision, err)
	}
	return fmt.Errorf("%w; rolled back to revision %d (recorded as revision %d)", failure, prev.Revision, rres.Revision)
}

// deleteCreated removes the objects this apply created and takes them out
// of the inventory; objects it changed stay as they are.
func (a *Applier) deleteCreated(ctx context.Context, p *plan, opts Options, res *Result, failure error) error {
	var created []ObjectRef
	for _, c := range res.Changes {
		if c.Action == Created {
			created = append(created, c.Object)
		}
	}
	a.phase(opts, "deleting the %d objects this apply created", len(created))
	sort.SliceStable(created, func(i, j int) bool { return manifest.Rank(created[i].Kind) < manifest.Rank(created[j].Kind) })
	left, err := a.deleteAll(ctx, created, inventoryID(opts.Namespace, opts.App), metav1.DeletePropagationBackground, Deleted, opts.Namespace, opts.OnEvent, &res.Changes)
	if err != nil {
		return fmt.Errorf("%w; deleting what it created failed too: %v", failure, err)
	}
	keep := union(minus(union(p.inventory.Objects, p.refs()), created), left)
	if err := a.writeInventory(ctx, opts.Namespace, opts.App, keep); err != nil && !apierrors.IsNotFound(err) {
		return errors.Join(failure, err)
	}
	return fmt.Errorf("%w; deleted the %d objects this apply created", failure, len(created)-len(left))
}
