// Command clusterready measures the floor of the apply benchmark: how long
// the cluster itself needs to make a set of manifests ready. It creates
// every object with one plain client-go call each (no dry run, inventory,
// release record or status library) and watches the Deployments until all
// their replicas are updated, ready and available.
//
//	clusterready -n NAMESPACE FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/manifest"
	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	ns := flag.String("n", "", "namespace to create the objects in (must exist)")
	flag.Parse()
	if *ns == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: clusterready -n NAMESPACE FILE")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, *ns, flag.Arg(0)); err != nil {
		fmt.Fprintf(os.Stderr, "clusterready: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, ns, file string) error {
	objs, err := manifest.ReadFiles([]string{file}, os.Stdin)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 200, 400
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cs, err := kubeclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))

	w, err := cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	defer w.Stop()

	want := map[string]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		if gvk.Kind == "Deployment" {
			want[o.GetName()] = true
		}
		g.Go(func() error {
			_, err := dyn.Resource(m.Resource).Namespace(ns).Create(gctx, o.Unstructured, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	ready := map[string]bool{}
	for len(ready) < len(want) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d Deployments ready: %w", len(ready), len(want), ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("watch closed")
			}
			d, isDeploy := ev.Object.(*appsv1.Deployment)
			if !isDeploy || ev.Type == watch.Deleted || !want[d.Name] {
				continue
			}
			r := int32(1)
			if d.Spec.Replicas != nil {
				r = *d.Spec.Replicas
			}
			s := d.Status
			if s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == r && s.ReadyReplicas == r && s.AvailableReplicas == r && s.Replicas == r {
				ready[d.Name] = true
			}
		}
	}
	return nil
}
