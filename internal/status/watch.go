package status

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Ref names one object to watch.
type Ref struct {
	Resource  schema.GroupVersionResource
	Kind      schema.GroupKind
	Namespace string
	Name      string
}

// String names the object in messages as Kind.group namespace/name.
func (r Ref) String() string {
	kind := r.Kind.Kind
	if r.Kind.Group != "" {
		kind += "." + r.Kind.Group
	}
	if r.Namespace != "" {
		return kind + " " + r.Namespace + "/" + r.Name
	}
	return kind + " " + r.Name
}

// Event reports that an object's status changed.
type Event struct {
	Ref    Ref
	Result Result
	Time   time.Time
}

// Options control one wait.
type Options struct {
	// Deadline bounds the whole wait, for the whole set of objects; zero
	// waits as long as ctx allows.
	Deadline time.Duration
	// TolerateFailures keeps waiting through unrecoverable-looking states
	// until the deadline instead of failing fast.
	TolerateFailures bool
	// OnEvent, when set, is called (from one goroutine) on each change.
	OnEvent func(Event)
}

// FailureError is a fail-fast result: an object or one of its pods is in a
// state that will not fix itself.
type FailureError struct {
	Ref     Ref
	Problem Problem
}

func (e *FailureError) Error() string {
	return fmt.Sprintf("%s failed: %s", e.Ref, e.Problem.String())
}

// DeadlineError says which objects were not ready when the deadline passed.
type DeadlineError struct {
	Deadline time.Duration
	Pending  []Event // the last status of each object that was not ready
}

func (e *DeadlineError) Error() string {
	var parts []string
	for i, p := range e.Pending {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Pending)-3))
			break
		}
		msg := p.Result.Message
		if p.Result.Problem != nil {
			msg = p.Result.Problem.String()
		}
		parts = append(parts, fmt.Sprintf("%s: %s: %s", p.Ref, p.Result.Status, msg))
	}
	return fmt.Sprintf("not ready within the %s deadline: %s", e.Deadline, strings.Join(parts, "; "))
}

// Watcher waits for objects by watching them with the API server's watch
// API: one list-then-watch stream per resource type and namespace, plus the
// pods and ReplicaSets of namespaces holding workloads, for diagnostics.
type Watcher struct {
	client dynamic.Interface
}

// NewWatcher returns a Watcher using client.
func NewWatcher(client dynamic.Interface) *Watcher { return &Watcher{client: client} }

var (
	podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	rsGVR   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
)

// Wait watches refs until every one is Current and returns their final
// results. It returns a *FailureError as soon as one shows an unrecoverable
// problem (unless opts.TolerateFailures), and a *DeadlineError when the
// deadline passes first.
func (w *Watcher) Wait(ctx context.Context, refs []Ref, opts Options) ([]Event, error) {
	return w.run(ctx, refs, opts, false, false)
}

// Follow watches refs until ctx ends and calls onEvent on each change of
// their status, as Wait does, but never stops at readiness or at a
// failure: it is what a live view of objects needs. It returns nil when ctx
// ends, or the error that stopped the watch of one of refs (forbidden, or
// a kind the cluster no longer serves).
func (w *Watcher) Follow(ctx context.Context, refs []Ref, onEvent func(Event)) error {
	if len(refs) == 0 {
		<-ctx.Done()
		return nil
	}
	_, err := w.run(ctx, refs, Options{TolerateFailures: true, OnEvent: onEvent}, false, true)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// WaitDeleted watches refs until none of them exists any more.
func (w *Watcher) WaitDeleted(ctx context.Context, refs []Ref, opts Options) error {
	_, err := w.run(ctx, refs, opts, true, false)
	return err
}

type streamKey struct {
	gvr       schema.GroupVersionResource
	namespace string
}

func (w *Watcher) run(parent context.Context, refs []Ref, opts Options, gone, follow bool) ([]Event, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if opts.Deadline > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, opts.Deadline)
		defer c()
	}

	st := newTracker(refs, gone)
	streams := map[streamKey][]string{}
	watched := map[streamKey]bool{} // streams that carry refs, not only diagnostics
	for _, r := range refs {
		k := streamKey{r.Resource, r.Namespace}
		streams[k] = append(streams[k], r.Name)
		watched[k] = true
	}
	if !gone {
		for ns, kinds := range st.workloadNamespaces() {
			streams[streamKey{podsGVR, ns}] = nil
			if kinds["Deployment"] {
				streams[streamKey{rsGVR, ns}] = nil
			}
		}
	}

	updates := make(chan update)
	var wg sync.WaitGroup
	for k, names := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stream{ri: w.client.Resource(k.gvr).Namespace(k.namespace), key: k, names: names, out: updates}
			s.run(ctx)
		}()
	}
	defer wg.Wait()
	defer cancel()

	for {
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return nil, err
			}
			return nil, &DeadlineError{Deadline: opts.Deadline, Pending: st.pending()}
		case u := <-updates:
			switch {
			case u.err == nil:
			case gone && apierrors.IsNotFound(u.err):
				u = update{key: u.key, replace: true} // the kind itself is gone, and its objects with it
			case !watched[u.key]:
				u = update{key: u.key, replace: true} // diagnostics only: go on without them
			default:
				return nil, u.err
			}
			st.apply(u)
			events := st.evaluate(time.Now())
			for _, e := range events {
				if opts.OnEvent != nil {
					opts.OnEvent(e)
				}
			}
			for _, e := range events {
				if e.Result.Problem != nil && !opts.TolerateFailures && !gone {
					return nil, &FailureError{Ref: e.Ref, Problem: *e.Result.Problem}
				}
			}
			if st.done() && !follow {
				return st.results(), nil
			}
		}
	}
}

// tracker is the state of one wait: the latest copy of every watched object,
// pod and ReplicaSet, and the last result reported for each ref.
type tracker struct {
	refs    []Ref
	gone    bool
	objects map[string]*unstructured.Unstructured
	synced  map[streamKey]bool
	pods    map[string]map[string]*corev1.Pod
	rs      map[string]map[string]*appsv1.ReplicaSet
	last    map[Ref]Result
}

func newTracker(refs []Ref, gone bool) *tracker {
	return &tracker{
		refs: refs, gone: gone,
		objects: map[string]*unstructured.Unstructured{},
		synced:  map[streamKey]bool{},
		pods:    map[string]map[string]*corev1.Pod{},
		rs:      map[string]map[string]*appsv1.ReplicaSet{},
		last:    map[Ref]Result{},
	}
}

var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true, "Job": true, "Pod": true}

func (t *tracker) workloadNamespaces() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, r := range t.refs {
		if workloadKinds[r.Kind.Kind] && (r.Kind.Group == "" || r.Kind.Group == "apps" || r.Kind.Group == "batch") && r.Namespace != "" {
			if out[r.Namespace] == nil {
				out[r.Namespace] = map[string]bool{}
			}
			out[r.Namespace][r.Kind.Kind] = true
		}
	}
	return out
}

func objKey(k streamKey, name string) string {
	return k.gvr.String() + "|" + k.namespace + "|" + name
}

func (t *tracker) apply(u update) {
	switch u.key.gvr {
	case podsGVR:
		t.pods[u.key.namespace] = applyTyped(t.pods[u.key.namespace], u, func(o *unstructured.Unstructured) *corev1.Pod {
			var p corev1.Pod
			_ = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &p)
			return &p
		})
	case rsGVR:
		t.rs[u.key.namespace] = applyTyped(t.rs[u.key.namespace], u, func(o *unstructured.Unstructured) *appsv1.ReplicaSet {
			var r appsv1.ReplicaSet
			_ = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r)
			return &r
		})
	}
	if u.replace {
		t.synced[u.key] = true
		prefix := objKey(u.key, "")
		for k := range t.objects {
			if strings.HasPrefix(k, prefix) {
				delete(t.objects, k)
			}
		}
		for _, o := range u.items {
			t.objects[objKey(u.key, o.GetName())] = o
		}
		return
	}
	if u.deleted {
		delete(t.objects, objKey(u.key, u.obj.GetName()))
		return
	}
	t.objects[objKey(u.key, u.obj.GetName())] = u.obj
}

func applyTyped[T any](m map[string]T, u update, conv func(*unstructured.Unstructured) T) map[string]T {
	if u.replace || m == nil {
		m = map[string]T{}
	}
	for _, o := range u.items {
		m[o.GetName()] = conv(o)
	}
	if u.obj != nil {
		if u.deleted {
			delete(m, u.obj.GetName())
		} else {
			m[u.obj.GetName()] = conv(u.obj)
		}
	}
	return m
}

func values[T any](m map[string]T) []T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]T, 0, len(m))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

func (t *tracker) result(r Ref) Result {
	k := streamKey{r.Resource, r.Namespace}
	if !t.synced[k] {
		return Result{Status: Unknown, Message: "waiting for the first list"}
	}
	obj := t.objects[objKey(k, r.Name)]
	if t.gone {
		if obj == nil {
			return Result{Status: NotFound, Message: "deleted"}
		}
		return Result{Status: Terminating, Message: "being deleted"}
	}
	pods := CurrentPods(obj, values(t.rs[r.Namespace]), values(t.pods[r.Namespace]))
	return Compute(obj, pods)
}

// evaluate recomputes every ref and returns the ones whose result changed.
func (t *tracker) evaluate(now time.Time) []Event {
	var out []Event
	for _, r := range t.refs {
		res := t.result(r)
		if prev, ok := t.last[r]; ok && sameResult(prev, res) {
			continue
		}
		if _, ok := t.last[r]; !ok && res.Status == Unknown {
			continue // not listed yet: nothing to tell
		}
		t.last[r] = res
		out = append(out, Event{Ref: r, Result: res, Time: now})
	}
	return out
}

func sameResult(a, b Result) bool {
	if a.Status != b.Status || a.Message != b.Message || (a.Problem == nil) != (b.Problem == nil) {
		return false
	}
	return a.Problem == nil || *a.Problem == *b.Problem
}

func (t *tracker) goal() Result {
	if t.gone {
		return Result{Status: NotFound}
	}
	return Result{Status: Current}
}

func (t *tracker) done() bool {
	for _, r := range t.refs {
		if res, ok := t.last[r]; !ok || res.Status != t.goal().Status {
			return false
		}
	}
	return true
}

func (t *tracker) pending() []Event {
	var out []Event
	for _, r := range t.refs {
		res, ok := t.last[r]
		if !ok {
			res = t.result(r)
		}
		if res.Status != t.goal().Status {
			out = append(out, Event{Ref: r, Result: res})
		}
	}
	return out
}

func (t *tracker) results() []Event {
	out := make([]Event, 0, len(t.refs))
	for _, r := range t.refs {
		out = append(out, Event{Ref: r, Result: t.last[r]})
	}
	return out
}

// IsFailure reports whether err is a fail-fast or deadline status failure
// (as opposed to an error talking to the cluster).
func IsFailure(err error) bool {
	var f *FailureError
	var d *DeadlineError
	return errors.As(err, &f) || errors.As(err, &d)
}
