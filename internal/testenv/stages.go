package testenv

import (
	"fmt"
	"testing"
)

// WaitingAnnotation, set on a pod template in a namespace given to
// WaitingStage, names the container waiting reason kwok reports for its
// pods (ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError, …).
const WaitingAnnotation = "skiff.dev/test-waiting"

// WaitingStage makes kwok keep the pods of namespace that carry
// WaitingAnnotation Running but not ready, their containers waiting with
// the annotation's reason, instead of making them ready. Its weight beats
// the default pod-ready stage; it is removed when the test ends.
func (e *Env) WaitingStage(t testing.TB, namespace string) {
	t.Helper()
	e.KwokStage(t, []byte(fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: skiff-test-waiting-%[1]s
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.namespace', operator: In, values: ['%[1]s']}
    - {key: '.metadata.annotations["%[2]s"]', operator: Exists}
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.phase', operator: In, values: ['Pending']}
  weight: 10000
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $reason := index .metadata.annotations "%[2]s" }}
      conditions:
      - {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: Ready, status: "False", reason: ContainersNotReady, lastTransitionTime: {{ $now | Quote }}}
      - {type: ContainersReady, status: "False", reason: ContainersNotReady, lastTransitionTime: {{ $now | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 3
        started: false
        state:
          waiting:
            reason: {{ $reason }}
            message: "simulated by kwok: {{ $reason }}"
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
`, namespace, WaitingAnnotation)))
}
