package apply_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const webSet = `
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {greeting: hello}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
`

func TestApplyThenReapplyChangesNothing(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "apply-noop")
	a := c.applier(t)
	ctx := t.Context()
	objs := c.parse(t, webSet+deployment("web", "registry.example/web:1.0", 3, nil))

	res, err := a.Apply(ctx, objs, c.options("shop"))
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	want := map[string]apply.Action{
		"ConfigMap " + c.ns + "/web-config": apply.Created,
		"Service " + c.ns + "/web":          apply.Created,
		"Deployment.apps " + c.ns + "/web":  apply.Created,
	}
	if d := cmp.Diff(want, actions(res.Changes)); d != "" {
		t.Errorf("first apply changes (-want +got):\n%s", d)
	}
	for _, s := range res.Statuses {
		if s.Result.Status != status.Current {
			t.Errorf("%s is %s after a successful status check", s.Ref, s.Result.Status)
		}
	}
	if res.Revision != 1 {
		t.Errorf("revision = %d, want 1", res.Revision)
	}

	cs := c.env.Clientset(t)
	before, err := cs.AppsV1().Deployments(c.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rsBefore := c.listNames(t, ctx, "replicasets")
	cmBefore, _ := cs.CoreV1().ConfigMaps(c.ns).Get(ctx, "web-config", metav1.GetOptions{})

	res, err = a.Apply(ctx, c.parse(t, webSet+deployment("web", "registry.example/web:1.0", 3, nil)), c.options("shop"))
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for k := range want {
		want[k] = apply.Unchanged
	}
	if d := cmp.Diff(want, actions(res.Changes)); d != "" {
		t.Errorf("re-apply changes (-want +got):\n%s", d)
	}
	after, _ := cs.AppsV1().Deployments(c.ns).Get(ctx, "web", metav1.GetOptions{})
	if after.Generation != before.Generation {
		t.Errorf("Deployment generation %d -> %d: the pod template changed", before.Generation, after.Generation)
	}
	if rs := c.listNames(t, ctx, "replicasets"); !cmp.Equal(rs, rsBefore) {
		t.Errorf("ReplicaSets %v -> %v: the re-apply rolled the pods", rsBefore, rs)
	}
	cmAfter, _ := cs.CoreV1().ConfigMaps(c.ns).Get(ctx, "web-config", metav1.GetOptions{})
	if cmAfter.ResourceVersion != cmBefore.ResourceVersion {
		t.Errorf("ConfigMap resourceVersion %s -> %s", cmBefore.ResourceVersion, cmAfter.ResourceVersion)
	}
	// A no-op records nothing new: the history shows deploys that changed
	// something; the re-apply is noted on the revision it found.
	if res.Revision != 1 || !res.NoOp {
		t.Errorf("re-apply: revision %d, no-op %v; want revision 1 still in place", res.Revision, res.NoOp)
	}
	recs, err := a.Records().List(ctx, c.ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || len(recs[0].Reapplied) != 1 || recs[0].Reapplied[0].KubeUser == "" || recs[0].Reapplied[0].Time.IsZero() {
		t.Fatalf("records after a no-op re-apply: %+v", recs)
	}

	// The same manifests as a new release tag are a revision of their own.
	opts := c.options("shop")
	opts.Release.Tag = "v2.0.0"
	res, err = a.Apply(ctx, c.parse(t, webSet+deployment("web", "registry.example/web:1.0", 3, nil)), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 2 || res.NoOp {
		t.Errorf("new tag: revision %d, no-op %v; want revision 2", res.Revision, res.NoOp)
	}
	// A changed object is a new revision.
	res, err = a.Apply(ctx, c.parse(t, webSet+deployment("web", "registry.example/web:1.1", 3, nil)), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 3 || res.NoOp {
		t.Errorf("changed image: revision %d, no-op %v; want revision 3", res.Revision, res.NoOp)
	}
}

// TestReapplyOfAFailedRevisionIsARevision re-applies the manifests of a
// revision that failed its status check: the current record is not a
// deployed one, so the apply is a revision of its own, not a no-op.
func TestReapplyOfAFailedRevisionIsARevision(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "apply-noop-failed")
	c.waitingStage(t)
	a := c.applier(t)
	ctx := t.Context()
	broken := deployment("web", "registry.example/web:1.0", 1, map[string]string{waiting: "CrashLoopBackOff"})
	for rev := 1; rev <= 2; rev++ {
		res, err := a.Apply(ctx, c.parse(t, broken), c.options("shop"))
		if err == nil {
			t.Fatalf("apply %d: a crashing Deployment passed the status check", rev)
		}
		if res.NoOp || res.Revision != rev {
			t.Errorf("apply %d: revision %d, no-op %v; want revision %d", rev, res.Revision, res.NoOp, rev)
		}
	}
}

func TestRenamedObjectIsPruned(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "apply-prune")
	a := c.applier(t)
	ctx := t.Context()
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {k: v}\n---\n"
	}
	if _, err := a.Apply(ctx, c.parse(t, cm("old-name")+cm("kept")+cm("adopted-by-hand")), c.options("shop")); err != nil {
		t.Fatal(err)
	}
	// Someone takes "adopted-by-hand" over: without skiff's mark it is no
	// longer skiff's to delete.
	cs := c.env.Clientset(t)
	obj, err := cs.CoreV1().ConfigMaps(c.ns).Get(ctx, "adopted-by-hand", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(obj.Annotations, apply.AnnotationInventory)
	if _, err := cs.CoreV1().ConfigMaps(c.ns).Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	res, err := a.Apply(ctx, c.parse(t, cm("new-name")+cm("kept")), c.options("shop"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]apply.Action{
		"ConfigMap " + c.ns + "/new-name":        apply.Created,
		"ConfigMap " + c.ns + "/kept":            apply.Unchanged,
		"ConfigMap " + c.ns + "/old-name":        apply.Pruned,
		"ConfigMap " + c.ns + "/adopted-by-hand": apply.Skipped,
	}
	if d := cmp.Diff(want, actions(res.Changes)); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	got := c.listNames(t, ctx, "configmaps")
	wantNames := []string{"adopted-by-hand", "kept", "new-name", "skiff-shop"}
	if d := cmp.Diff(wantNames, got); d != "" {
		t.Errorf("ConfigMaps left (-want +got):\n%s", d)
	}
	inv, err := apply.ReadInventory(ctx, cs, c.ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range inv.Objects {
		names = append(names, r.Name)
	}
	if d := cmp.Diff([]string{"kept", "new-name"}, names); d != "" {
		t.Errorf("inventory (-want +got):\n%s", d)
	}
}

func TestAnotherApplicationsObjectsAreNotTaken(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "apply-owner")
	a := c.applier(t)
	ctx := t.Context()
	objs := c.parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {k: v}\n")
	if _, err := a.Apply(ctx, objs, c.options("first")); err != nil {
		t.Fatal(err)
	}
	_, err := a.Apply(ctx, c.parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {k: w}\n"), c.options("second"))
	var verr *apply.ValidationError
	if !errors.As(err, &verr) || !strings.Contains(err.Error(), `belongs to the application inventory "`+c.ns+`/first"`) {
		t.Fatalf("err = %v, want a validation error naming the owner", err)
	}
	got, _ := c.env.Clientset(t).CoreV1().ConfigMaps(c.ns).Get(ctx, "shared", metav1.GetOptions{})
	if got.Data["k"] != "v" {
		t.Errorf("data = %v: the refused apply changed the object", got.Data)
	}
	// Deleting the first application removes it; the second never had it.
	changes, err := a.Delete(ctx, apply.DeleteOptions{App: "second", Namespace: c.ns})
	if err != nil || len(changes) != 0 {
		t.Errorf("delete of a never-applied app = %v, %v; want nothing", changes, err)
	}
}

func TestConflictsAreReportedAndForceTakesOwnership(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "apply-conflict")
	a := c.applier(t)
	ctx := t.Context()
	// Another tool owns .data.k.
	other := c.parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: {{ns}}}\ndata: {k: theirs}\n")[0]
	_, err := c.env.Dynamic(t).Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(c.ns).
		Apply(ctx, "cfg", other.Unstructured, metav1.ApplyOptions{FieldManager: "other-tool"})
	if err != nil {
		t.Fatal(err)
	}
	mine := c.parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {k: mine}\n")
	_, err = a.Apply(ctx, mine, c.options("shop"))
	if err == nil || !strings.Contains(err.Error(), `.data.k owned by "other-tool"`) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v, want a conflict naming other-tool and --force", err)
	}
	opts := c.options("shop")
	opts.Force = true
	res, err := a.Apply(ctx, mine, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(res.Changes)["ConfigMap "+c.ns+"/cfg"]; got != apply.Configured {
		t.Errorf("action = %s, want configured", got)
	}
	cm, _ := c.env.Clientset(t).CoreV1().ConfigMaps(c.ns).Get(ctx, "cfg", metav1.GetOptions{})
	if cm.Data["k"] != "mine" {
		t.Errorf("data = %v after --force", cm.Data)
	}
}

func TestCRDAndItsCustomResourceInOneApply(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "apply-crd")
	a := c.applier(t)
	ctx := t.Context()
	group := c.ns + ".skiff.test"
	objs := c.parse(t, strings.ReplaceAll(`
apiVersion: example.GROUP/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.GROUP}
spec:
  group: example.GROUP
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`, "GROUP", group))
	opts := c.options("widgets")
	opts.OnEvent = func(e apply.Event) {
		if e.Type == apply.EventPhase {
			t.Logf("%s", e.Message)
		}
		if e.Type == apply.EventStatus {
			t.Logf("%s %s", e.Status.Ref, e.Status.Result.Status)
		}
	}
	t.Cleanup(func() {
		crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		_ = c.env.Dynamic(t).Resource(crds).Delete(context.Background(), "widgets.example."+group, metav1.DeleteOptions{})
	})
	res, err := a.Apply(ctx, objs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Changes[0].Object.Kind; got != "CustomResourceDefinition" {
		t.Errorf("first applied %s, want the CRD first", got)
	}
	if got := actions(res.Changes)["Widget.example."+group+" "+c.ns+"/w1"]; got != apply.Created {
		t.Errorf("Widget action = %q, want created", got)
	}
	t.Log("deleting")
	if _, err := a.Delete(ctx, apply.DeleteOptions{App: "widgets", Namespace: c.ns, Wait: true, OnEvent: opts.OnEvent}); err != nil {
		t.Fatalf("delete: %v", err)
	}
}

func TestDeleteLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "apply-delete")
	a := c.applier(t)
	ctx := t.Context()
	other := c.ns + "-extra"
	c.cleanupNamespace(t, other)
	objs := c.parse(t, webSet+deployment("web", "registry.example/web:1.0", 2, nil)+`
---
apiVersion: v1
kind: Namespace
metadata: {name: `+other+`}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: elsewhere, namespace: `+other+`}
`)
	if _, err := a.Apply(ctx, objs, c.options("shop")); err != nil {
		t.Fatal(err)
	}
	// An object skiff did not create stays.
	cs := c.env.Clientset(t)
	if _, err := cs.CoreV1().ConfigMaps(c.ns).Create(ctx, c.parseConfigMap("not-ours"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	changes, err := a.Delete(ctx, apply.DeleteOptions{App: "shop", Namespace: c.ns, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range changes {
		if ch.Action != apply.Deleted {
			t.Errorf("%s: %s (%s), want deleted", ch.Object, ch.Action, ch.Reason)
		}
	}
	if len(changes) != 5 {
		t.Errorf("%d changes, want 5: %v", len(changes), changes)
	}
	if got := c.listNames(t, ctx, "configmaps"); !cmp.Equal(got, []string{"not-ours"}) {
		t.Errorf("ConfigMaps left: %v, want only not-ours", got)
	}
	if got := c.listNames(t, ctx, "replicasets"); len(got) != 0 {
		t.Errorf("ReplicaSets left: %v", got)
	}
	pods, _ := cs.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{})
	deps, _ := cs.AppsV1().Deployments(c.ns).List(ctx, metav1.ListOptions{})
	svcs, _ := cs.CoreV1().Services(c.ns).List(ctx, metav1.ListOptions{})
	secrets, _ := cs.CoreV1().Secrets(c.ns).List(ctx, metav1.ListOptions{})
	if n := len(pods.Items) + len(deps.Items) + len(svcs.Items) + len(secrets.Items); n != 0 {
		t.Errorf("left behind: %d pods, %d deployments, %d services, %d secrets", len(pods.Items), len(deps.Items), len(svcs.Items), len(secrets.Items))
	}
	if ns, err := cs.CoreV1().Namespaces().Get(ctx, other, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s still there (phase %s)", other, ns.Status.Phase)
	}
}

func TestHistoryIsTrimmed(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "apply-history")
	a := c.applier(t)
	opts := c.options("shop")
	opts.HistoryMax = 2
	opts.Release = apply.ReleaseInfo{Actor: "alice", Commit: "0123abc", Tag: "v1.0.0"}
	for i := 0; i < 4; i++ {
		objs := c.parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {run: '"+string(rune('a'+i))+"'}\n")
		if _, err := a.Apply(t.Context(), objs, opts); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := a.Records().List(t.Context(), c.ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var revs []int
	for _, r := range recs {
		revs = append(revs, r.Revision)
		if r.Actor != "alice" || r.Commit != "0123abc" || r.Tag != "v1.0.0" || r.Objects != 1 || r.KubeUser == "" || r.Time.IsZero() {
			t.Errorf("record %d = %+v", r.Revision, r)
		}
	}
	if d := cmp.Diff([]int{3, 4}, revs); d != "" {
		t.Errorf("revisions kept (-want +got):\n%s", d)
	}
}
