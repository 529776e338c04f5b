package apply

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"

	"github.com/skiff-dev/skiff/internal/manifest"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// parallelism bounds concurrent requests to the API server.
const parallelism = 16

// item is one object of an apply.
type item struct {
	obj      *unstructured.Unstructured // as sent: namespace set, inventory mark added
	origin   manifest.Origin
	ref      ObjectRef
	m        mapping
	deferred bool // its kind comes from a CRD of this same set
	live     *unstructured.Unstructured
	action   Action // planned by the dry run
	secret   bool   // from Options.Secrets: never in the record's manifests
}

func (it *item) id() string { return it.ref.String() }

// plan is a validated apply: nothing has been written when it exists.
type plan struct {
	items []*item // apply order
	// source are the manifests a record stores: the items without the
	// vault Secrets.
	source []manifest.Object
	// keep are live objects the inventory keeps without applying them
	// (Options.keep).
	keep      []ObjectRef
	inventory *Inventory // the previous one
	newNS     map[string]bool
	createNS  bool // opts.Namespace must be created
	// current is the newest release record, nil when there is none.
	current *Record
}

// refs are what the inventory lists after the apply: the items and the
// kept objects.
func (p *plan) refs() []ObjectRef {
	out := make([]ObjectRef, 0, len(p.items)+len(p.keep))
	for _, it := range p.items {
		out = append(out, it.ref)
	}
	return union(out, p.keep)
}

type problems struct {
	mu   sync.Mutex
	list []Problem
}

func (ps *problems) add(it *item, format string, args ...any) {
	p := Problem{Message: fmt.Sprintf(format, args...)}
	if it != nil {
		p.Object, p.Origin = it.id(), it.origin
	}
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
}

func checkOptions(opts Options) error {
	if msgs := validation.IsDNS1123Label(opts.App); len(msgs) > 0 {
		return fmt.Errorf("application name %q: %s; set metadata.name in skiff.yaml", opts.App, strings.Join(msgs, "; "))
	}
	if len(InventoryName(opts.App)) > validation.DNS1123LabelMaxLength {
		return fmt.Errorf("application name %q is too long: at most %d characters", opts.App, validation.DNS1123LabelMaxLength-len("skiff-"))
	}
	if msgs := validation.IsDNS1123Label(opts.Namespace); len(msgs) > 0 {
		return fmt.Errorf("namespace %q: %s", opts.Namespace, strings.Join(msgs, "; "))
	}
	if _, err := ParseFailurePolicy(string(opts.OnFailure)); err != nil {
		return err
	}
	return checkSecretObjects(opts)
}

// plan resolves, defaults and dry-runs every object. It writes nothing; a
// *ValidationError lists every problem found.
func (a *Applier) plan(ctx context.Context, objs []manifest.Object, opts Options) (*plan, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	p := &plan{newNS: map[string]bool{}, keep: opts.keep}
	ps := &problems{}
	if err := a.resolve(ctx, p, objs, opts, ps); err != nil {
		return nil, err
	}
	if err := a.checkNamespaces(ctx, p, opts, ps); err != nil {
		return nil, err
	}
	if !p.newNS[opts.Namespace] {
		inv, err := ReadInventory(ctx, a.core, opts.Namespace, opts.App)
		if err != nil {
			if !isAPIError(err) {
				return nil, err
			}
			ps.add(nil, "%v", err)
			inv = &Inventory{App: opts.App, Namespace: opts.Namespace}
		}
		p.inventory = inv
	} else {
		p.inventory = &Inventory{App: opts.App, Namespace: opts.Namespace}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for _, it := range p.items {
		g.Go(func() error { return a.check(gctx, it, p, opts, ps) })
	}
	g.Go(func() error { return a.checkBookkeeping(gctx, p, opts, ps) })
	if p.inventory.Exists {
		// A failure to read it only means the apply is not taken for a no-op.
		g.Go(func() error { p.current, _ = a.records.newest(gctx, opts.Namespace, opts.App); return nil })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(ps.list) > 0 {
		sort.SliceStable(ps.list, func(i, j int) bool {
			a, b := ps.list[i].Origin, ps.list[j].Origin
			if a.File != b.File {
				return a.File < b.File
			}
			return a.Line < b.Line
		})
		return nil, &ValidationError{Problems: ps.list}
	}
	return p, nil
}

type crdKind struct {
	plural     string
	namespaced bool
}

// resolve maps every object to its API resource, sets namespaces and marks
// it with the inventory. Kinds defined by CRDs of the same set are deferred.
func (a *Applier) resolve(ctx context.Context, p *plan, objs []manifest.Object, opts Options, ps *problems) error {
	secret := map[*unstructured.Unstructured]bool{}
	for _, s := range opts.Secrets {
		secret[s.Unstructured] = true
	}
	sorted := append(append([]manifest.Object{}, objs...), opts.Secrets...)
	manifest.Sort(sorted)
	crds := map[schema.GroupKind]crdKind{}
	for _, o := range sorted {
		if o.GroupKind() == (schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}) {
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
			scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
			crds[schema.GroupKind{Group: group, Kind: kind}] = crdKind{plural: plural, namespaced: scope != "Cluster"}
		}
	}
	reset := false
	seen := map[string]manifest.Origin{}
	for _, o := range sorted {
		gvk := o.GroupVersionKind()
		it := &item{obj: o.DeepCopy(), origin: o.Origin, secret: secret[o.Unstructured]}
		if o.GetName() == "" {
			ps.add(&item{origin: o.Origin, ref: refOf(o.Unstructured)}, "has no metadata.name: apply needs one (generateName is for create)")
			continue
		}
		m, err := a.mappingFor(ctx, gvk.GroupKind(), gvk.Version)
		if errors.Is(err, errNoMatch) && !reset {
			reset = true // a CRD may have been installed since the cache was filled
			a.resetDiscovery(ctx)
			m, err = a.mappingFor(ctx, gvk.GroupKind(), gvk.Version)
		}
		switch {
		case errors.Is(err, errNoMatch):
			c, ok := crds[gvk.GroupKind()]
			if !ok {
				ps.add(&item{origin: o.Origin, ref: refOf(o.Unstructured)}, "unknown kind: the cluster serves no %s of apiVersion %s; install its CRD first (or add it to the manifests) or fix apiVersion/kind", gvk.Kind, gvk.GroupVersion())
				continue
			}
			m = mapping{gvr: gvk.GroupVersion().WithResource(c.plural), namespaced: c.namespaced}
			it.deferred = true
		case err != nil:
			return err
		}
		it.m = m
		if m.namespaced && it.obj.GetNamespace() == "" {
			it.obj.SetNamespace(opts.Namespace)
		}
		if !m.namespaced {
			it.obj.SetNamespace("")
		}
		it.ref = refOf(it.obj)
		if prev, dup := seen[it.ref.key()]; dup {
			ps.add(it, "defined twice (also at %s); keep one", prev)
			continue
		}
		seen[it.ref.key()] = it.origin
		if !it.secret {
			p.source = append(p.source, manifest.Object{Unstructured: it.obj.DeepCopy(), Origin: o.Origin})
		}
		ann := it.obj.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[AnnotationInventory] = inventoryID(opts.Namespace, opts.App)
		it.obj.SetAnnotations(ann)
		if !m.namespaced && len(opts.ClusterLabels) > 0 {
			l := it.obj.GetLabels()
			if l == nil {
				l = map[string]string{}
			}
			maps.Copy(l, opts.ClusterLabels)
			it.obj.SetLabels(l)
		}
		p.items = append(p.items, it)
	}
	return nil
}

func refOf(u *unstructured.Unstructured) ObjectRef {
	gk := u.GroupVersionKind().GroupKind()
	return ObjectRef{Group: gk.Group, Kind: gk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// checkNamespaces finds the namespaces that do not exist yet: they must be
// in the manifests, or be the target namespace when it may be created.
func (a *Applier) checkNamespaces(ctx context.Context, p *plan, opts Options, ps *problems) error {
	inSet := map[string]bool{}
	needed := map[string]*item{opts.Namespace: nil}
	for _, it := range p.items {
		if it.ref.Group == "" && it.ref.Kind == "Namespace" {
			inSet[it.ref.Name] = true
		}
		if it.ref.Namespace != "" {
			if _, ok := needed[it.ref.Namespace]; !ok {
				needed[it.ref.Namespace] = it
			}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for ns, first := range needed {
		g.Go(func() error {
			_, err := a.core.CoreV1().Namespaces().Get(gctx, ns, metav1.GetOptions{})
			switch {
			case err == nil, apierrors.IsForbidden(err):
				return nil // exists, or we may not know: the dry runs will tell
			case !apierrors.IsNotFound(err):
				return fmt.Errorf("reading namespace %q on %s: %w", ns, a.host, err)
			}
			mu.Lock()
			p.newNS[ns] = true
			mu.Unlock()
			switch {
			case inSet[ns]:
			case ns == opts.Namespace && opts.CreateNamespace:
				p.createNS = true
			case first == nil:
				ps.add(nil, "namespace %q does not exist; create it or add a Namespace object to the manifests", ns)
			default:
				ps.add(first, "namespace %q does not exist; add a Namespace object to the manifests or create it first", ns)
			}
			return nil
		})
	}
	return g.Wait()
}

// check dry-runs one object: the API server validates it, admission and
// RBAC judge it, and conflicts with other field managers show up. Objects
// that cannot be dry-run yet (new namespace, CRD of the same set) get an
// access review instead.
func (a *Applier) check(ctx context.Context, it *item, p *plan, opts Options, ps *problems) error {
	if it.deferred || p.newNS[it.ref.Namespace] {
		it.action = Created
		return a.review(ctx, it, ps, "create", "patch")
	}
	ri := a.dynamic.Resource(it.m.gvr).Namespace(it.ref.Namespace)
	live, err := ri.Get(ctx, it.ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return a.apiProblem(it, err, ps)
	}
	dry, created, err := a.ssa(ctx, it.m, it.obj, opts.Force, true)
	if err != nil {
		return a.apiProblem(it, err, ps)
	}
	it.live = live
	switch {
	case live == nil || created:
		it.action = Created
	case unchanged(live, dry):
		it.action = Unchanged
	default:
		it.action = Configured
	}
	if live != nil && !opts.Force {
		if owner := live.GetAnnotations()[AnnotationInventory]; owner != "" && owner != inventoryID(opts.Namespace, opts.App) {
			ps.add(it, "belongs to the application inventory %q; remove it there first, or use --force to adopt it", owner)
		}
	}
	return nil
}

func (a *Applier) review(ctx context.Context, it *item, ps *problems, verbs ...string) error {
	msg, err := a.denied(ctx, it.m.gvr, it.ref.Namespace, verbs...)
	if msg != "" {
		ps.add(it, "%s", msg)
	}
	return err
}

// denied returns why the caller may not do one of verbs on gvr in namespace,
// or "" when all are allowed.
func (a *Applier) denied(ctx context.Context, gvr schema.GroupVersionResource, namespace string, verbs ...string) (string, error) {
	for _, verb := range verbs {
		ok, reason, err := a.allowed(ctx, verb, gvr, namespace)
		if err != nil {
			return "", err
		}
		if !ok {
			msg := fmt.Sprintf("forbidden: you may not %s %s in namespace %q", verb, gvr.GroupResource(), namespace)
			if reason != "" {
				msg += " (" + reason + ")"
			}
			return msg + "; ask for access or use another --kube-context", nil
		}
	}
	return "", nil
}

// apiProblem turns an API server's refusal into a problem; other errors
// (the cluster is unreachable) end the validation.
func (a *Applier) apiProblem(it *item, err error, ps *problems) error {
	if !isAPIError(err) {
		return fmt.Errorf("%s: talking to %s: %w", it.id(), a.host, err)
	}
	if cs := conflicts(err); len(cs) > 0 {
		ps.add(it, "%s", describeConflicts(cs))
		return nil
	}
	msg := err.Error()
	if apierrors.IsForbidden(err) {
		msg += "; ask for access or use another --kube-context"
	}
	ps.add(it, "%s", msg)
	return nil
}

func isAPIError(err error) bool {
	var st apierrors.APIStatus
	return errors.As(err, &st)
}

// checkBookkeeping makes sure skiff may write its own objects: the target
// namespace (when it is created), the inventory and a release record.
func (a *Applier) checkBookkeeping(ctx context.Context, p *plan, opts Options, ps *problems) error {
	ns := opts.Namespace
	if p.createNS {
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		_, err := a.core.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			if !isAPIError(err) {
				return err
			}
			ps.add(nil, "creating namespace %q: %v", ns, err)
		}
	}
	if p.newNS[ns] {
		for _, res := range []string{"configmaps", "secrets"} {
			gvr := schema.GroupVersionResource{Version: "v1", Resource: res}
			msg, err := a.denied(ctx, gvr, ns, "create", "patch", "get", "list", "delete")
			if err != nil {
				return err
			}
			if msg != "" {
				ps.add(nil, "skiff's inventory and release records: %s", msg)
			}
		}
		return nil
	}
	inv := inventoryObject(ns, opts.App, nil)
	if _, _, err := a.ssa(ctx, configMaps, inv, true, true); err != nil {
		if !isAPIError(err) {
			return err
		}
		ps.add(nil, "writing the inventory ConfigMap %s/%s: %v", ns, InventoryName(opts.App), err)
	}
	if err := a.records.checkWritable(ctx, ns, opts.App); err != nil {
		if !isAPIError(err) {
			return err
		}
		ps.add(nil, "writing release records in namespace %q: %v", ns, err)
	}
	return nil
}
