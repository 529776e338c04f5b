package status

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTrackerReportsChangesUntilDone(t *testing.T) {
	t.Parallel()
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	depGVR := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	cm := Ref{Resource: cmGVR, Kind: schema.GroupKind{Kind: "ConfigMap"}, Namespace: "ns", Name: "c"}
	dep := Ref{Resource: depGVR, Kind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Namespace: "ns", Name: "web"}
	tr := newTracker([]Ref{cm, dep}, false)
	if ns := tr.workloadNamespaces(); !cmp.Equal(ns, map[string]map[string]bool{"ns": {"Deployment": true}}) {
		t.Errorf("workload namespaces = %v", ns)
	}
	step := func(u update) []string {
		tr.apply(u)
		var got []string
		for _, e := range tr.evaluate(time.Time{}) {
			got = append(got, e.Ref.Name+"="+string(e.Result.Status))
		}
		return got
	}
	u := func(y string) *unstructured.Unstructured { return obj(t, y) }
	cmKey, depKey := streamKey{cmGVR, "ns"}, streamKey{depGVR, "ns"}

	if got := step(update{key: cmKey, replace: true, items: []*unstructured.Unstructured{u("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")}}); !cmp.Equal(got, []string{"c=Current"}) {
		t.Errorf("after the ConfigMap list: %v (the Deployment is not listed yet and says nothing)", got)
	}
	if tr.done() {
		t.Fatal("done before the Deployment was seen")
	}
	if got := step(update{key: depKey, replace: true, items: []*unstructured.Unstructured{u(deployment + "status: {observedGeneration: 2, replicas: 2}")}}); !cmp.Equal(got, []string{"web=InProgress"}) {
		t.Errorf("after the Deployment list: %v", got)
	}
	if got := step(update{key: depKey, obj: u(deployment + "status: {observedGeneration: 2, replicas: 2}")}); got != nil {
		t.Errorf("an identical update reported %v", got)
	}
	ready := deployment + "status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2, conditions: [{type: Available, status: 'True'}, {type: Progressing, status: 'True', reason: NewReplicaSetAvailable}]}"
	if got := step(update{key: depKey, obj: u(ready)}); !cmp.Equal(got, []string{"web=Current"}) {
		t.Errorf("after the rollout: %v", got)
	}
	if !tr.done() {
		t.Error("not done with everything Current")
	}
	if got := step(update{key: depKey, obj: u(ready), deleted: true}); !cmp.Equal(got, []string{"web=NotFound"}) {
		t.Errorf("after deletion: %v", got)
	}
	if p := tr.pending(); len(p) != 1 || p[0].Ref != dep {
		t.Errorf("pending = %v, want the Deployment", p)
	}
}
