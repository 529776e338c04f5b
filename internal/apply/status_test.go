package apply_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const waiting = "skiff.dev/test-waiting"

func TestFailedRolloutIsRolledBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "status-rollback")
	c.waitingStage(t)
	a := c.applier(t)
	ctx := t.Context()
	v1 := c.parse(t, webSet+deployment("web", "registry.example/web:1.0", 3, nil))
	if _, err := a.Apply(ctx, v1, c.options("shop")); err != nil {
		t.Fatalf("v1: %v", err)
	}
	v2 := c.parse(t, webSet+deployment("web", "registry.example/web:2.0", 3, map[string]string{waiting: "ImagePullBackOff"})+
		"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: added-in-v2}\n")
	opts := c.options("shop")
	opts.OnFailure = apply.OnFailureRollback
	res, err := a.Apply(ctx, v2, opts)

	var fe *status.FailureError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a status failure", err)
	}
	if fe.Ref.Name != "web" || fe.Problem.Reason != "ImagePullBackOff" || !strings.HasPrefix(fe.Problem.Pod, "web-") {
		t.Errorf("failure = %s, want Deployment web, a web- pod and ImagePullBackOff", fe)
	}
	if !strings.Contains(err.Error(), "rolled back to revision 1") {
		t.Errorf("err = %v, want it to say it rolled back to revision 1", err)
	}
	if res == nil || res.RolledBack == nil || res.RolledBack.Revision != 3 {
		t.Fatalf("result = %+v, want a rollback recorded as revision 3", res)
	}
	if got := actions(res.RolledBack.Changes)["ConfigMap "+c.ns+"/added-in-v2"]; got != apply.Pruned {
		t.Errorf("added-in-v2 after rollback: %q, want pruned", got)
	}
	cs := c.env.Clientset(t)
	d, err := cs.AppsV1().Deployments(c.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example/web:1.0" {
		t.Errorf("image after rollback = %s, want web:1.0", img)
	}
	if d.Status.ReadyReplicas != 3 || d.Status.UpdatedReplicas != 3 {
		t.Errorf("after rollback: %d ready, %d updated, want 3 and 3", d.Status.ReadyReplicas, d.Status.UpdatedReplicas)
	}

	recs, err := a.Records().List(ctx, c.ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Revision   int
		Status     apply.RecordStatus
		RollbackOf int
	}
	var got []rec
	for _, r := range recs {
		got = append(got, rec{r.Revision, r.Status, r.RollbackOf})
	}
	want := []rec{{1, apply.RecordDeployed, 0}, {2, apply.RecordFailed, 0}, {3, apply.RecordDeployed, 1}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("records (-want +got):\n%s", d)
	}
	if !strings.Contains(recs[1].Message, "ImagePullBackOff") {
		t.Errorf("failed record message = %q", recs[1].Message)
	}
	if recs[0].ManifestsSHA256 != recs[2].ManifestsSHA256 {
		t.Errorf("rollback applied manifests %s, want revision 1's %s", recs[2].ManifestsSHA256, recs[0].ManifestsSHA256)
	}
	back, err := a.Records().Manifests(ctx, c.ns, "shop", 2)
	if err != nil || len(back) != 4 {
		t.Errorf("revision 2 manifests: %d objects, %v; want 4", len(back), err)
	}
}

func TestFailedFirstRolloutIsDeleted(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "status-delete")
	c.waitingStage(t)
	a := c.applier(t)
	ctx := t.Context()
	objs := c.parse(t, webSet+deployment("web", "registry.example/web:1.0", 2, map[string]string{waiting: "CrashLoopBackOff"}))
	opts := c.options("shop")
	opts.OnFailure = apply.OnFailureDelete
	_, err := a.Apply(ctx, objs, opts)
	var fe *status.FailureError
	if !errors.As(err, &fe) || fe.Problem.Reason != "CrashLoopBackOff" || fe.Problem.Container != "app" {
		t.Fatalf("err = %v, want a CrashLoopBackOff failure of container app", err)
	}
	if !strings.Contains(err.Error(), "deleted the 3 objects this apply created") {
		t.Errorf("err = %v, want it to say what was deleted", err)
	}
	cs := c.env.Clientset(t)
	if _, err := cs.AppsV1().Deployments(c.ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment web: %v, want it deleted", err)
	}
	inv, err := apply.ReadInventory(ctx, cs, c.ns, "shop")
	if err != nil || len(inv.Objects) != 0 {
		t.Errorf("inventory after delete-on-failure = %v, %v; want empty", inv, err)
	}
}

func TestStatusCheckFailureModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		reason   string
		tolerate bool
		deadline time.Duration
		// wantDeadline: the check ran into its deadline; else it failed fast.
		wantDeadline bool
		wantText     string
	}{
		{name: "never ready", reason: "ContainerCreating", deadline: 5 * time.Second, wantDeadline: true, wantText: "Deployment.apps"},
		{name: "crash loop tolerated until the deadline", reason: "CrashLoopBackOff", tolerate: true, deadline: 5 * time.Second, wantDeadline: true, wantText: "CrashLoopBackOff"},
		{name: "invalid image name", reason: "InvalidImageName", deadline: 2 * time.Minute, wantText: "InvalidImageName"},
		{name: "config error", reason: "CreateContainerConfigError", deadline: 2 * time.Minute, wantText: "CreateContainerConfigError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, "status-modes")
			c.waitingStage(t)
			a := c.applier(t)
			opts := c.options("shop")
			opts.TolerateFailures = tt.tolerate
			opts.StatusCheckDeadline = tt.deadline
			objs := c.parse(t, deployment("web", "registry.example/web:1.0", 1, map[string]string{waiting: tt.reason}))
			_, err := a.Apply(t.Context(), objs, opts)
			var de *status.DeadlineError
			var fe *status.FailureError
			switch {
			case tt.wantDeadline && !errors.As(err, &de):
				t.Fatalf("err = %v, want the deadline", err)
			case !tt.wantDeadline && !errors.As(err, &fe):
				t.Fatalf("err = %v, want a fail-fast failure", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err = %v, want it to mention %s", err, tt.wantText)
			}
			recs, _ := a.Records().List(t.Context(), c.ns, "shop")
			if len(recs) != 1 || recs[0].Status != apply.RecordFailed {
				t.Errorf("records = %+v, want one failed revision", recs)
			}
		})
	}
}

func TestRollbackToRevisionAndHealth(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "rollback")
	a := c.applier(t)
	ctx := t.Context()
	v1 := c.parse(t, webSet+deployment("web", "registry.example/web:1.0", 2, nil))
	v2 := c.parse(t, webSet+deployment("web", "registry.example/web:2.0", 2, nil)+"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: added-in-v2}\n")
	for i, objs := range [][]manifest.Object{v1, v2} {
		if _, err := a.Apply(ctx, objs, c.options("shop")); err != nil {
			t.Fatalf("v%d: %v", i+1, err)
		}
	}
	res, err := a.Rollback(ctx, 1, c.options("shop"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 3 || actions(res.Changes)["ConfigMap "+c.ns+"/added-in-v2"] != apply.Pruned {
		t.Errorf("rollback result: revision %d, changes %v", res.Revision, actions(res.Changes))
	}
	rec, err := a.Records().Get(ctx, c.ns, "shop", 3)
	if err != nil || rec.RollbackOf != 1 || rec.Description != "rollback to revision 1" {
		t.Errorf("record 3 = %+v, %v", rec, err)
	}
	health, err := a.Health(ctx, c.ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(health) != 3 {
		t.Errorf("health of %d objects, want 3", len(health))
	}
	for _, h := range health {
		if h.Result.Status != status.Current {
			t.Errorf("%s: %s %s", h.Ref, h.Result.Status, h.Result.Message)
		}
	}
}

// TestFixForwardAfterAFailedRollout applies a fix over a Deployment whose
// pods crash: the crashing pods of the previous revision must not fail the
// status check of the fix.
func TestFixForwardAfterAFailedRollout(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "status-fix")
	c.waitingStage(t)
	a := c.applier(t)
	ctx := t.Context()
	broken := c.parse(t, deployment("web", "registry.example/web:1.0", 2, map[string]string{waiting: "CrashLoopBackOff"}))
	if _, err := a.Apply(ctx, broken, c.options("shop")); err == nil {
		t.Fatal("the broken revision passed the status check")
	}
	fixed := c.parse(t, deployment("web", "registry.example/web:1.1", 2, nil))
	opts := c.options("shop")
	opts.OnEvent = func(e apply.Event) { t.Logf("%+v", e) }
	if _, err := a.Apply(ctx, fixed, opts); err != nil {
		cs := c.env.Clientset(t)
		d, _ := cs.AppsV1().Deployments(c.ns).Get(ctx, "web", metav1.GetOptions{})
		t.Logf("deployment gen %d observed %d annotations %v", d.Generation, d.Status.ObservedGeneration, d.Annotations)
		rs, _ := cs.AppsV1().ReplicaSets(c.ns).List(ctx, metav1.ListOptions{})
		for _, r := range rs.Items {
			t.Logf("rs %s annotations %v template annotations %v", r.Name, r.Annotations, r.Spec.Template.Annotations)
		}
		t.Fatalf("the fix failed: %v", err)
	}
}
