package testenv

import (
	"context"
	"io"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// RunPod creates pod in namespace ns on the real node (Place), waits up to
// timeout for it to finish, and returns it as it ended with its logs. The
// test fails when the pod does not finish in time; the pod is deleted at
// cleanup. Give it restartPolicy Never so that it finishes.
func (n *RealNode) RunPod(t testing.TB, ns string, pod *corev1.Pod, timeout time.Duration) (*corev1.Pod, string) {
	t.Helper()
	cs := n.env.Clientset(t)
	n.Place(&pod.Spec)
	created, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", ns, pod.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		zero := int64(0)
		if err := cs.CoreV1().Pods(ns).Delete(ctx, created.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting pod %s/%s: %v", ns, created.Name, err)
		}
	})
	var last *corev1.Pod
	err = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, nil
	})
	logs := n.podLogs(t, ns, created.Name)
	if err != nil {
		phase := corev1.PodPhase("unknown")
		if last != nil {
			phase = last.Status.Phase
		}
		t.Fatalf("pod %s/%s did not finish within %s (phase %s): %v\nlogs:\n%s", ns, created.Name, timeout, phase, err, logs)
	}
	return last, logs
}

// podLogs returns the logs of a pod's only container, or why they could
// not be read.
func (n *RealNode) podLogs(t testing.TB, ns, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := n.env.Clientset(t).CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).Stream(ctx)
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return string(b) + "(reading logs: " + err.Error() + ")"
	}
	return string(b)
}
