package hooks

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"sync"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// Cluster is where container hooks run.
type Cluster struct {
	Config *rest.Config
	Client kubeclient.Interface
}

// selector picks the containers a container hook runs in.
type selector func(p *corev1.Pod, c corev1.Container) (bool, error)

// running is true for a running pod's running container; Skaffold's
// selectors both start with this test (hooks/container.go).
func running(p *corev1.Pod, c corev1.Container) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == c.Name {
			return s.State.Running != nil
		}
	}
	return false
}

// imageSelector picks the containers running image (a sync hook's
// artifact), as Skaffold's runningImageSelector.
func imageSelector(image string) selector {
	return func(p *corev1.Pod, c corev1.Container) (bool, error) {
		return running(p, c) && c.Image == image, nil
	}
}

// nameSelector picks containers by pod and container name globs
// (path.Match; an empty pattern matches every name), as Skaffold's
// namePatternSelector.
func nameSelector(podName, containerName string) selector {
	return func(p *corev1.Pod, c corev1.Container) (bool, error) {
		if !running(p, c) {
			return false, nil
		}
		for _, m := range [][2]string{{podName, p.Name}, {containerName, c.Name}} {
			if m[0] == "" {
				continue
			}
			ok, err := path.Match(m[0], m[1])
			if err != nil {
				return false, fmt.Errorf("pattern %q: %v", m[0], err)
			}
			if !ok {
				return false, nil
			}
		}
		return true, nil
	}
}

// once skips the containers a phase's hooks already ran in, so successive
// dev iterations only reach new pods (Skaffold's filterPodsSelector; it
// keys on the pod alone, which also skips a pod's second container — skiff
// keys on the container).
func once(visited *sync.Map, phase Phase, sel selector) selector {
	return func(p *corev1.Pod, c corev1.Container) (bool, error) {
		ok, err := sel(p, c)
		if !ok || err != nil {
			return ok, err
		}
		_, seen := visited.LoadOrStore(string(phase)+":"+p.Namespace+"/"+p.Name+"/"+c.Name, true)
		return !seen, nil
	}
}

// runContainer execs command in every selected container of the
// namespaces' pods, concurrently, streaming each line of output prefixed
// with the pod and container.
func (r *Runner) runContainer(ctx context.Context, command []string, namespaces []string, sel selector) error {
	if r.Cluster == nil {
		return fmt.Errorf("container hook %q needs a cluster, and this command has none", command)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, ns := range namespaces {
		pods, err := r.Cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing pods in namespace %s for a container hook: %w", ns, err)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			for _, c := range p.Spec.Containers {
				ok, err := sel(p, c)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				g.Go(func() error { return r.execIn(gctx, p, c.Name, command) })
			}
		}
	}
	return g.Wait()
}

func (r *Runner) execIn(ctx context.Context, p *corev1.Pod, container string, command []string) error {
	where := fmt.Sprintf("pod %s/%s container %s", p.Namespace, p.Name, container)
	pr, pw := io.Pipe()
	tail := &tailBuffer{max: 2048}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(r.out(), "[%s %s] %s\n", p.Name, container, sc.Text())
			fmt.Fprintln(tail, sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := kube.Exec(ctx, r.Cluster.Config, r.Cluster.Client, p.Namespace, p.Name, container, command, nil, pw, pw)
	pw.Close()
	<-done
	if err != nil {
		return &Failure{Command: command, Where: where, Err: err, Output: tail.String()}
	}
	return nil
}
