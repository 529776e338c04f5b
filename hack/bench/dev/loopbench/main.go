// Command loopbench measures a running `skiff dev` from the outside: the
// time from saving a file to the new version of a Deployment being rolled
// out and ready (rebuild path), and from saving a synced file to its new
// content being in the container (sync path; kwok runs the container's
// exec in a local directory). It prints one line per run and the medians
// as "rebuild <seconds>" and "sync <seconds>" lines.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/kubeclient"
)

func main() {
	var (
		kubeconfig = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
		namespace  = flag.String("n", "", "namespace of the Deployment")
		deployment = flag.String("deployment", "", "Deployment whose rollout ends a rebuild run")
		rebuild    = flag.String("rebuild-file", "", "file whose change rebuilds the image")
		syncFile   = flag.String("sync-file", "", "file whose change is synced")
		synced     = flag.String("synced-to", "", "where the synced file lands (in the kwok exec directory)")
		runs       = flag.Int("runs", 10, "runs of each path")
		settle     = flag.Duration("settle", time.Second, "pause between runs, so that runs do not overlap")
	)
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(err)
	}
	cs, err := kubeclient.NewForConfig(cfg)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	var rebuilds, syncs []float64
	for i := 0; i < *runs; i++ {
		d, err := rebuildRun(ctx, cs, *namespace, *deployment, *rebuild, i)
		if err != nil {
			fail(err)
		}
		rebuilds = append(rebuilds, d.Seconds())
		fmt.Fprintf(os.Stderr, "loopbench: rebuild run %d: %.3fs\n", i+1, d.Seconds())
		time.Sleep(*settle)
	}
	for i := 0; i < *runs; i++ {
		d, err := syncRun(*syncFile, *synced, i)
		if err != nil {
			fail(err)
		}
		syncs = append(syncs, d.Seconds())
		fmt.Fprintf(os.Stderr, "loopbench: sync run %d: %.3fs\n", i+1, d.Seconds())
		time.Sleep(*settle)
	}
	report("rebuild", rebuilds)
	report("sync", syncs)
}

// rebuildRun appends a comment to file and waits until the Deployment runs
// a new image, rolled out and ready (as kstatus calls it Current).
func rebuildRun(ctx context.Context, cs kubeclient.Interface, ns, name, file string, i int) (time.Duration, error) {
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	before := d.Spec.Template.Spec.Containers[0].Image
	w, err := cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: d.ResourceVersion,
	})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	start := time.Now()
	if err := appendLine(file, fmt.Sprintf("<!-- loopbench run %d %d -->", i, start.UnixNano())); err != nil {
		return 0, err
	}
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, fmt.Errorf("watch of deployment %s closed", name)
			}
			if d, ok := ev.Object.(*appsv1.Deployment); ok && d.Spec.Template.Spec.Containers[0].Image != before && rolledOut(d) {
				return time.Since(start), nil
			}
		case <-timeout:
			return 0, fmt.Errorf("deployment %s did not roll out a new image in 5 minutes", name)
		}
	}
}

func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want &&
		s.ReadyReplicas == want && s.AvailableReplicas == want
}

// syncRun writes new content to file and waits until dest has it.
func syncRun(file, dest string, i int) (time.Duration, error) {
	content := fmt.Sprintf("<p>loopbench sync run %d at %d</p>\n", i, time.Now().UnixNano())
	start := time.Now()
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		return 0, err
	}
	deadline := start.Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(dest); err == nil && string(b) == content {
			return time.Since(start), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not get the new content of %s in 5 minutes", dest, filepath.Base(file))
}

func appendLine(file, line string) error {
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func report(name string, xs []float64) {
	sort.Float64s(xs)
	med := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		med = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	fmt.Printf("%s %.3f %.3f %.3f\n", name, med, xs[0], xs[len(xs)-1])
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loopbench:", err)
	os.Exit(1)
}
