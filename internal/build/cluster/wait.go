package cluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// waitingFailures are container waiting reasons that do not resolve by
// waiting: the image cannot be pulled or the container not made.
var waitingFailures = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// waitRunning waits until the build container runs and returns the pod's
// node; a pod that cannot start fails at once, naming why.
func waitRunning(ctx context.Context, pods typedcorev1.PodInterface, name string) (string, error) {
	var last *corev1.Pod
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		switch p.Status.Phase {
		case corev1.PodSucceeded, corev1.PodFailed:
			return false, fmt.Errorf("ended before the build started (%s: %s %s)", p.Status.Phase, p.Status.Reason, p.Status.Message)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name != containerName {
				continue
			}
			if cs.State.Running != nil {
				return true, nil
			}
			if w := cs.State.Waiting; w != nil && waitingFailures[w.Reason] {
				return false, fmt.Errorf("cannot start image %s: %s: %s", cs.Image, w.Reason, w.Message)
			}
			if t := cs.State.Terminated; t != nil {
				return false, fmt.Errorf("the container ended before the build started: %s (exit code %d) %s", t.Reason, t.ExitCode, t.Message)
			}
		}
		return false, nil
	})
	if err != nil && ctx.Err() != nil && last != nil {
		return "", fmt.Errorf("did not start: %s%s", last.Status.Phase, unschedulable(last))
	}
	if err != nil {
		return "", err
	}
	return last.Spec.NodeName, nil
}

func unschedulable(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return fmt.Sprintf(" (%s: %s)", c.Reason, c.Message)
		}
	}
	return ""
}
