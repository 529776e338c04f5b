package cluster

import (
	"context"
	"sync"

	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/ui"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Watch follows the environments with Kubernetes watches until ctx ends:
// the namespaces of each cluster (a review environment appears or goes),
// and in each environment namespace its release records, inventory and
// objects (apply.Applier.Watch). When the namespaces change, the followed
// set is read again.
func (s *Source) Watch(ctx context.Context, changed func(ui.Change)) error {
	again := make(chan struct{}, 1)
	signal := func() {
		select {
		case again <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		envs, err := s.List(ctx)
		if err != nil {
			return err
		}
		round, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		errs := make(chan error, len(envs)+1)
		known := map[string]bool{}
		clusters := map[kubeclient.Interface]bool{}
		for _, e := range envs {
			if e.Namespace == "" {
				continue
			}
			known[e.Namespace] = known[e.Namespace] || e.Exists
			c, err := s.Clients(e.ID)
			if err != nil {
				stop()
				wg.Wait()
				return err
			}
			clusters[c.Kube] = true
			if !e.Exists {
				continue
			}
			ns := e.Namespace
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Applier.Watch(round, ns, s.App, func() { changed(ui.Change{Namespace: ns}) }); err != nil {
					errs <- err
				}
			}()
		}
		for kube := range clusters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.watchNamespaces(round, kube, known, func() { changed(ui.Change{}); signal() })
			}()
		}
		var err2 error
		select {
		case <-ctx.Done():
		case <-again:
		case err2 = <-errs:
		}
		stop()
		wg.Wait()
		if err2 != nil {
			return err2
		}
	}
	return nil
}

// watchNamespaces calls changed when a namespace of the app (by its label)
// or one of known appears that was not known to exist, changes its phase or
// labels, or goes, until ctx ends. known maps namespace → exists.
func (s *Source) watchNamespaces(ctx context.Context, kube kubeclient.Interface, known map[string]bool, changed func()) {
	inf := kubeclient.NewInformer[*corev1.NamespaceList](kube.CoreV1().Namespaces(), &corev1.Namespace{}, nil)
	relevant := func(obj any) bool {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		ns, ok := obj.(*corev1.Namespace)
		if !ok {
			return false
		}
		_, isKnown := known[ns.Name]
		return isKnown || ns.Labels[env.LabelApp] == s.App
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			// The first list adds every namespace: only new ones matter.
			if ns, ok := obj.(*corev1.Namespace); ok && relevant(obj) && !known[ns.Name] {
				changed()
			}
		},
		UpdateFunc: func(old, obj any) {
			o, n := old.(*corev1.Namespace), obj.(*corev1.Namespace)
			if relevant(obj) && (o.Status.Phase != n.Status.Phase || o.Labels[env.LabelApp] != n.Labels[env.LabelApp]) {
				changed()
			}
		},
		DeleteFunc: func(obj any) {
			if relevant(obj) {
				changed()
			}
		},
	})
	inf.RunWithContext(ctx)
}
