package status

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ns, uid: d1, generation: 2, annotations: {deployment.kubernetes.io/revision: "2"}}
spec: {replicas: 2}
`

func waitingPod(name, reason string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name:  "app",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "back-off\npulling"}},
		}}},
	}
}

func TestCompute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		obj         string
		pods        []*corev1.Pod
		wantStatus  string
		wantProblem string
	}{
		{
			name:       "deployment rolling out",
			obj:        deployment + "status: {observedGeneration: 2, replicas: 2, updatedReplicas: 1}",
			wantStatus: "InProgress",
		},
		{
			name:       "deployment ready",
			obj:        deployment + "status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2, conditions: [{type: Available, status: 'True'}, {type: Progressing, status: 'True', reason: NewReplicaSetAvailable}]}",
			wantStatus: "Current",
		},
		{
			name:        "deployment pod in image pull back-off",
			obj:         deployment + "status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2}",
			pods:        []*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "ok"}}, waitingPod("web-1", "ImagePullBackOff")},
			wantStatus:  "InProgress",
			wantProblem: "pod web-1 container app: ImagePullBackOff: back-off pulling",
		},
		{
			name:        "deployment pod crash looping",
			obj:         deployment + "status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2}",
			pods:        []*corev1.Pod{waitingPod("web-1", "CrashLoopBackOff")},
			wantStatus:  "InProgress",
			wantProblem: "pod web-1 container app: CrashLoopBackOff: back-off pulling",
		},
		{
			name:       "old pods do not count before the controller saw the new spec",
			obj:        deployment + "status: {observedGeneration: 1, replicas: 2, updatedReplicas: 2}",
			pods:       []*corev1.Pod{waitingPod("web-1", "CrashLoopBackOff")},
			wantStatus: "InProgress",
		},
		{
			name:       "nor before the controller wrote any status",
			obj:        deployment,
			pods:       []*corev1.Pod{waitingPod("web-1", "CrashLoopBackOff")},
			wantStatus: "InProgress",
		},
		{
			name:       "pod creating containers is fine",
			obj:        deployment + "status: {observedGeneration: 2, replicas: 2}",
			pods:       []*corev1.Pod{waitingPod("web-1", "ContainerCreating")},
			wantStatus: "InProgress",
		},
		{
			name:        "progress deadline exceeded",
			obj:         deployment + "status: {observedGeneration: 2, replicas: 2, conditions: [{type: Progressing, status: 'False', reason: ProgressDeadlineExceeded, message: 'ReplicaSet web-1 has timed out progressing.'}]}",
			wantStatus:  "Failed",
			wantProblem: "ProgressDeadlineExceeded: Progress deadline exceeded",
		},
		{
			name:        "replica failure",
			obj:         deployment + "status: {observedGeneration: 2, conditions: [{type: ReplicaFailure, status: 'True', reason: FailedCreate, message: 'pods forbidden'}]}",
			wantStatus:  "InProgress",
			wantProblem: "FailedCreate: pods forbidden",
		},
		{
			name:       "current deployment ignores a bad old pod",
			obj:        deployment + "status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2, conditions: [{type: Available, status: 'True'}, {type: Progressing, status: 'True', reason: NewReplicaSetAvailable}]}",
			pods:       []*corev1.Pod{waitingPod("web-1", "CrashLoopBackOff")},
			wantStatus: "Current",
		},
		{
			name:       "configmap",
			obj:        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			wantStatus: "Current",
		},
		{
			name:        "bare pod failed",
			obj:         "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {restartPolicy: Never}\nstatus: {phase: Failed, containerStatuses: [{name: app, state: {terminated: {exitCode: 3, reason: Error}}}]}\n",
			wantStatus:  "Failed",
			wantProblem: "pod p container app: PodFailed: exit code 3: Error",
		},
		{
			name:        "bare pod unschedulable",
			obj:         "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {phase: Pending, conditions: [{type: PodScheduled, status: 'False', reason: Unschedulable, message: '0/2 nodes are available'}]}\n",
			wantStatus:  "Failed",
			wantProblem: "pod p: Unschedulable: 0/2 nodes are available",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Compute(obj(t, tt.obj), tt.pods)
			var problem string
			if got.Problem != nil {
				problem = got.Problem.String()
			}
			if d := cmp.Diff([]string{tt.wantStatus, tt.wantProblem}, []string{string(got.Status), problem}); d != "" {
				t.Errorf("status, problem (-want +got):\n%s\nmessage: %s", d, got.Message)
			}
		})
	}
}

func TestComputeNil(t *testing.T) {
	t.Parallel()
	if got := Compute(nil, nil); got.Status != NotFound {
		t.Errorf("Compute(nil) = %v, want NotFound", got.Status)
	}
}

func TestCurrentPods(t *testing.T) {
	t.Parallel()
	yes := true
	owned := func(name string, owner types.UID, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: []metav1.OwnerReference{{UID: owner, Controller: &yes}}}}
	}
	rs := func(name string, uid types.UID, rev string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: uid,
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": rev},
			OwnerReferences: []metav1.OwnerReference{{UID: "d1", Controller: &yes}},
		}}
	}
	replicaSets := []*appsv1.ReplicaSet{rs("web-old", "rs1", "1"), rs("web-new", "rs2", "2")}
	pods := []*corev1.Pod{
		owned("old-a", "rs1", nil),
		owned("new-a", "rs2", nil),
		owned("new-b", "rs2", nil),
		owned("sts-0", "s1", map[string]string{"controller-revision-hash": "r1"}),
		owned("sts-1", "s1", map[string]string{"controller-revision-hash": "r2"}),
		owned("job-a", "j1", nil),
	}
	tests := []struct {
		name string
		obj  string
		want []string
	}{
		{"deployment newest replicaset", deployment, []string{"new-a", "new-b"}},
		{"deployment not observed yet", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, uid: d1}\n", nil},
		{"statefulset update revision", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, uid: s1}\nstatus: {updateRevision: r2}\n", []string{"sts-1"}},
		{"job", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, uid: j1}\n", []string{"job-a"}},
		{"service has none", "apiVersion: v1\nkind: Service\nmetadata: {name: s, uid: d1}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, p := range CurrentPods(obj(t, tt.obj), replicaSets, pods) {
				got = append(got, p.Name)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("pods (-want +got):\n%s", d)
			}
		})
	}
}

func TestDeadlineErrorIsOneLine(t *testing.T) {
	t.Parallel()
	e := &DeadlineError{Deadline: 90e9, Pending: []Event{
		{Ref: Ref{Kind: appsv1.SchemeGroupVersion.WithKind("Deployment").GroupKind(), Namespace: "ns", Name: "web"}, Result: Result{Status: InProgress, Message: "Ready: 0/2"}},
	}}
	want := "not ready within the 1m30s deadline: Deployment.apps ns/web: InProgress: Ready: 0/2"
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}
