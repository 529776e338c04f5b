package status

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// The statuses an object can have; they are kstatus's.
const (
	Current     = kstatus.CurrentStatus
	InProgress  = kstatus.InProgressStatus
	Failed      = kstatus.FailedStatus
	Terminating = kstatus.TerminatingStatus
	NotFound    = kstatus.NotFoundStatus
	Unknown     = kstatus.UnknownStatus
)

// Result is the status of one object at one moment.
type Result struct {
	Status  kstatus.Status
	Message string
	// Problem is set when the object or one of its current pods is in a
	// state that will not fix itself; the status check fails fast on it
	// unless failures are tolerated until the deadline.
	Problem *Problem
}

// Problem is an unrecoverable state: the reason a rollout cannot finish.
type Problem struct {
	Pod       string // the pod that shows it; empty when the object itself does
	Container string
	Reason    string // ImagePullBackOff, CrashLoopBackOff, Unschedulable, ProgressDeadlineExceeded, …
	Message   string
}

func (p *Problem) String() string {
	var b strings.Builder
	if p.Pod != "" {
		b.WriteString("pod " + p.Pod)
		if p.Container != "" {
			b.WriteString(" container " + p.Container)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Reason)
	if p.Message != "" {
		b.WriteString(": " + oneLine(p.Message))
	}
	return b.String()
}

// unrecoverableWaiting are the container waiting reasons a rollout does not
// recover from without a change of manifests, image or configuration.
var unrecoverableWaiting = map[string]bool{
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"ErrImageNeverPull":          true,
	"InvalidImageName":           true,
	"CrashLoopBackOff":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// Compute returns obj's status. pods are the pods of obj's current revision
// (see CurrentPods); they are only used to explain why a workload is not
// ready yet and to fail fast on problems kstatus cannot see.
func Compute(obj *unstructured.Unstructured, pods []*corev1.Pod) Result {
	if obj == nil {
		return Result{Status: NotFound, Message: "not found"}
	}
	res, err := kstatus.Compute(obj)
	if err != nil {
		return Result{Status: Unknown, Message: err.Error()}
	}
	out := Result{Status: res.Status, Message: res.Message}
	if obj.GetKind() == "Pod" && obj.GetAPIVersion() == "v1" {
		// A Pod applied directly has no controller to replace it: a failed
		// one is final, whatever kstatus says about completion.
		if pod, ok := toPod(obj); ok {
			pods = []*corev1.Pod{pod}
			if out.Status == Current && pod.Status.Phase == corev1.PodFailed {
				out.Status = Failed
			}
		}
	}
	if out.Status == Current || out.Status == Terminating || !observed(obj) {
		// Until the controller has seen the latest spec, pods and conditions
		// describe the previous one: a broken old revision must not fail the
		// rollout that replaces it.
		return out
	}
	if out.Status == Failed {
		out.Problem = &Problem{Reason: failedReason(res), Message: res.Message}
		if p := firstPodProblem(pods); p != nil {
			out.Problem = p // the pod says why, more precisely
		}
		return out
	}
	if p := objectProblem(obj); p != nil {
		out.Problem = p
		return out
	}
	out.Problem = firstPodProblem(pods)
	return out
}

// reportsObservedGeneration are the kinds whose controllers always write
// status.observedGeneration: for them a missing one means "not seen yet".
var reportsObservedGeneration = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true}

// observed reports whether obj's controller has seen its latest generation.
// Objects that do not report it are taken as observed, as kstatus does.
func observed(obj *unstructured.Unstructured) bool {
	observedGen, found, err := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if err != nil || (!found && !reportsObservedGeneration[obj.GetKind()]) {
		return true
	}
	return observedGen >= obj.GetGeneration()
}

func failedReason(res *kstatus.Result) string {
	for _, c := range res.Conditions {
		if c.Type == kstatus.ConditionStalled && c.Reason != "" {
			return c.Reason
		}
	}
	return "Failed"
}

// objectProblem looks at conditions kstatus reports as progressing but that
// mean the controller cannot create pods (admission, quota, PodSecurity).
func objectProblem(obj *unstructured.Unstructured) *Problem {
	switch obj.GetKind() {
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet":
	default:
		return nil
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if m["type"] == "ReplicaFailure" && m["status"] == "True" {
			reason, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			if reason == "" {
				reason = "ReplicaFailure"
			}
			return &Problem{Reason: reason, Message: msg}
		}
	}
	return nil
}

func firstPodProblem(pods []*corev1.Pod) *Problem {
	for _, p := range pods {
		if pr := PodProblem(p); pr != nil {
			return pr
		}
	}
	for _, p := range pods {
		if pr := failedBarePod(p); pr != nil {
			return pr
		}
	}
	return nil
}

// PodProblem returns the first unrecoverable state of pod: a container
// waiting for a reason that does not go away by itself, or a pod the
// scheduler cannot place. It returns nil for a healthy or progressing pod.
func PodProblem(pod *corev1.Pod) *Problem {
	if pod == nil || pod.DeletionTimestamp != nil {
		return nil
	}
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if w := cs.State.Waiting; w != nil && unrecoverableWaiting[w.Reason] {
			return &Problem{Pod: pod.Name, Container: cs.Name, Reason: w.Reason, Message: w.Message}
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return &Problem{Pod: pod.Name, Reason: c.Reason, Message: c.Message}
		}
	}
	return nil
}

// failedBarePod explains a failed pod that no controller will replace.
func failedBarePod(pod *corev1.Pod) *Problem {
	if pod.Status.Phase != corev1.PodFailed || len(pod.OwnerReferences) > 0 {
		return nil
	}
	p := &Problem{Pod: pod.Name, Reason: "PodFailed", Message: pod.Status.Message}
	if pod.Status.Reason != "" {
		p.Reason = pod.Status.Reason
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			p.Container = cs.Name
			if p.Message == "" {
				p.Message = strings.TrimSpace(fmt.Sprintf("exit code %d: %s %s", t.ExitCode, t.Reason, t.Message))
			}
			break
		}
	}
	return p
}

// Labels and annotations controllers use to mark revisions.
const (
	deploymentRevision    = "deployment.kubernetes.io/revision"
	controllerRevisionKey = appsv1.ControllerRevisionHashLabelKey
)

// CurrentPods returns, among the pods and ReplicaSets of obj's namespace, the
// pods of obj's current revision: for a Deployment the pods of its newest
// ReplicaSet, for a StatefulSet those of its update revision, for DaemonSets,
// ReplicaSets and Jobs the pods they own, for a Pod the pod itself. Old pods
// of a previous, healthy revision therefore never fail a new rollout.
func CurrentPods(obj *unstructured.Unstructured, replicaSets []*appsv1.ReplicaSet, pods []*corev1.Pod) []*corev1.Pod {
	if obj == nil {
		return nil
	}
	uid := obj.GetUID()
	switch obj.GetKind() {
	case "Deployment":
		rev := obj.GetAnnotations()[deploymentRevision]
		if rev == "" {
			return nil
		}
		for _, rs := range replicaSets {
			if controlledBy(rs.OwnerReferences, string(uid)) && rs.Annotations[deploymentRevision] == rev {
				return ownedPods(pods, string(rs.UID), "")
			}
		}
		return nil
	case "StatefulSet":
		rev, _, _ := unstructured.NestedString(obj.Object, "status", "updateRevision")
		return ownedPods(pods, string(uid), rev)
	case "DaemonSet", "ReplicaSet", "Job":
		return ownedPods(pods, string(uid), "")
	case "Pod":
		for _, p := range pods {
			if p.UID == uid {
				return []*corev1.Pod{p}
			}
		}
	}
	return nil
}

func ownedPods(pods []*corev1.Pod, ownerUID, revision string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if !controlledBy(p.OwnerReferences, ownerUID) {
			continue
		}
		if revision != "" && p.Labels[controllerRevisionKey] != revision {
			continue
		}
		out = append(out, p)
	}
	return out
}

func controlledBy(refs []metav1.OwnerReference, uid string) bool {
	for _, r := range refs {
		if string(r.UID) == uid && r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

func toPod(u *unstructured.Unstructured) (*corev1.Pod, bool) {
	var p corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &p); err != nil {
		return nil, false
	}
	return &p, true
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
