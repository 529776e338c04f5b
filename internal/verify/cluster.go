package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	jsonpatch "github.com/evanphx/json-patch"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// RunIDLabel marks the Jobs of a run, as Skaffold labels them.
const RunIDLabel = "skaffold.dev/run-id"

// Cluster runs each test as a Kubernetes Job (Skaffold's k8sjob verifier):
// named after the test, in Namespace, its one container the test's, with
// restartPolicy Never; jobManifestPath gives the Job to start from and
// overrides is a JSON merge patch over it. The Job's pod logs are streamed
// to Out and the container's exit code is the result; the Job is deleted
// afterwards.
//
// Unlike Skaffold, skiff does not copy its own process environment into
// the container (Skaffold's appendOSEnvIntoJob): that would put every
// variable of the machine running skiff, credentials included, into an
// object of the cluster. Set what the test needs in container.env.
type Cluster struct {
	Client    kubeclient.Interface
	Namespace string
	RunID     string
	Out       io.Writer
	// Poll is how often the Job's pod is looked at (default 500ms).
	Poll time.Duration
}

// Job is the Job that runs t with image.
func (c *Cluster) Job(t Test, image string) (*batchv1.Job, error) {
	mode := t.Case.ExecutionMode.KubernetesCluster
	tc := t.Case.Container
	container := corev1.Container{Name: tc.Name, Image: image, Command: tc.Command, Args: tc.Args}
	for _, e := range tc.Env {
		container.Env = append(container.Env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	job := &batchv1.Job{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}}
	if mode.JobManifestPath != "" {
		data, err := os.ReadFile(mode.JobManifestPath)
		if err != nil {
			return nil, fmt.Errorf("verify test %s: jobManifestPath: %w", t.Case.Name, err)
		}
		if err := sigsyaml.UnmarshalStrict(data, job); err != nil {
			return nil, fmt.Errorf("verify test %s: jobManifestPath %s: %v", t.Case.Name, mode.JobManifestPath, err)
		}
		if job.Kind != "Job" || job.APIVersion != "batch/v1" {
			return nil, fmt.Errorf("verify test %s: jobManifestPath %s is a %s %s; it must be a batch/v1 Job", t.Case.Name, mode.JobManifestPath, job.APIVersion, job.Kind)
		}
	}
	job.Name = t.Case.Name
	if job.Namespace == "" {
		job.Namespace = c.Namespace
	}
	for _, m := range []*metav1.ObjectMeta{&job.ObjectMeta, &job.Spec.Template.ObjectMeta} {
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		m.Labels[RunIDLabel] = c.RunID
	}
	job.Spec.Template.Spec.Containers = []corev1.Container{container}
	job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	if job.Spec.BackoffLimit == nil {
		// Skaffold reports the first failed pod; retries would only run
		// the test again after it has been reported.
		zero := int32(0)
		job.Spec.BackoffLimit = &zero
	}
	if mode.Overrides != "" {
		base, err := json.Marshal(job)
		if err != nil {
			return nil, err
		}
		patched, err := jsonpatch.MergePatch(base, []byte(mode.Overrides))
		if err != nil {
			return nil, fmt.Errorf("verify test %s: overrides: %v", t.Case.Name, err)
		}
		out := &batchv1.Job{}
		if err := json.Unmarshal(patched, out); err != nil {
			return nil, fmt.Errorf("verify test %s: overrides: %v", t.Case.Name, err)
		}
		job = out
	}
	return job, nil
}

// Run creates t's Job, streams its logs and waits for its pod to finish.
func (c *Cluster) Run(ctx context.Context, t Test, image string) (Result, error) {
	start := time.Now()
	res := Result{Name: t.Case.Name, Mode: "cluster", Image: image}
	job, err := c.Job(t, image)
	if err != nil {
		return res, err
	}
	jobs := c.Client.BatchV1().Jobs(job.Namespace)
	if err := c.deleteJob(ctx, job); err != nil {
		return res, err
	}
	if job, err = jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return res, fmt.Errorf("verify test %s: creating Job %s/%s: %w", t.Case.Name, job.Namespace, job.Name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = c.deleteJob(dctx, job)
	}()
	res, err = withTimeout(ctx, t, func(ctx context.Context) (Result, error) {
		return c.wait(ctx, t, job, res)
	})
	res.Duration = time.Since(start)
	return res, err
}

// wait follows the Job's pod: it streams the logs once the container
// runs and returns when the pod has finished.
func (c *Cluster) wait(ctx context.Context, t Test, job *batchv1.Job, res Result) (Result, error) {
	poll := c.Poll
	if poll == 0 {
		poll = 500 * time.Millisecond
	}
	pods := c.Client.CoreV1().Pods(job.Namespace)
	sel := "batch.kubernetes.io/controller-uid=" + string(job.UID)
	var streaming string
	logsDone := make(chan struct{})
	close(logsDone)
	var last *corev1.Pod
	err := wait.PollUntilContextCancel(ctx, poll, true, func(ctx context.Context) (bool, error) {
		list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, nil // transient; the timeout bounds it
		}
		for i := range list.Items {
			p := &list.Items[i]
			last = p
			if streaming != p.Name && (p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
				<-logsDone
				streaming = p.Name
				logsDone = make(chan struct{})
				go func(name string, done chan struct{}) {
					defer close(done)
					c.streamLogs(ctx, job.Namespace, name, t.Case.Name)
				}(p.Name, logsDone)
			}
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				return true, nil
			}
		}
		return false, nil
	})
	if err == nil {
		<-logsDone
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return res, nil // the caller tells a timeout from a cancel
		}
		return res, err
	}
	res.ExitCode, res.Passed = exitCode(last, t.Case.Container.Name), last.Status.Phase == corev1.PodSucceeded
	if !res.Passed {
		res.Message = fmt.Sprintf("Job %s/%s: container %s exited with code %d", job.Namespace, job.Name, t.Case.Container.Name, res.ExitCode)
		if reason := terminatedReason(last, t.Case.Container.Name); reason != "" && reason != "Error" {
			res.Message += " (" + reason + ")"
		}
	}
	return res, nil
}

func (c *Cluster) streamLogs(ctx context.Context, ns, pod, test string) {
	rc, err := c.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		return
	}
	defer rc.Close()
	out := c.Out
	if out == nil {
		out = io.Discard
	}
	_, _ = io.Copy(&prefixWriter{w: out, prefix: "[" + test + "] "}, rc)
}

func exitCode(p *corev1.Pod, container string) int {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container && s.State.Terminated != nil {
			return int(s.State.Terminated.ExitCode)
		}
	}
	return -1
}

func terminatedReason(p *corev1.Pod, container string) string {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container && s.State.Terminated != nil {
			return s.State.Terminated.Reason
		}
	}
	return ""
}

// deleteJob deletes job (a leftover of an earlier run with the same test
// name, or this run's) with its pods and waits until it is gone.
func (c *Cluster) deleteJob(ctx context.Context, job *batchv1.Job) error {
	jobs := c.Client.BatchV1().Jobs(job.Namespace)
	fg := metav1.DeletePropagationForeground
	err := jobs.Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &fg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting verify Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := jobs.Get(ctx, job.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
