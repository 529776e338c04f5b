package apply

import (
	"context"
	"errors"
	"sync"

	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
)

// Watch calls changed whenever app's inventory, one of its release records
// or the status of an inventory object (pods included) changes in
// namespace, until ctx ends: what a live view of an environment follows.
// It is fed by the API server's watches, not by polling. It returns nil
// when ctx ends, or the error that stopped the status watch.
func (a *Applier) Watch(ctx context.Context, namespace, app string, changed func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	inventory := make(chan struct{}, 1)
	notify := func(inv bool) {
		changed()
		if inv {
			select {
			case inventory <- struct{}{}:
			default:
			}
		}
	}
	records := kubeclient.NewInformer[*corev1.SecretList](a.core.CoreV1().Secrets(namespace), &corev1.Secret{}, func(o *metav1.ListOptions) {
		o.LabelSelector = recordSelector(app)
	})
	configMaps := kubeclient.NewInformer[*corev1.ConfigMapList](a.core.CoreV1().ConfigMaps(namespace), &corev1.ConfigMap{}, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", InventoryName(app)).String()
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	for inf, inv := range map[cache.SharedIndexInformer]bool{records: false, configMaps: true} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { notify(inv) },
			UpdateFunc: func(any, any) { notify(inv) },
			DeleteFunc: func(any) { notify(inv) },
		}); err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); inf.RunWithContext(ctx) }()
	}
	for {
		refs, err := a.statusRefs(ctx, namespace, app)
		if err != nil {
			return err
		}
		// Follow the objects until the inventory changes, then follow the
		// new set.
		fctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- a.watcher.Follow(fctx, refs, func(status.Event) { changed() })
		}()
		select {
		case <-ctx.Done():
			stop()
			<-done
			return nil
		case err := <-done:
			stop()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
		case <-inventory:
			stop()
			<-done
		}
	}
}

// statusRefs are the status watch's refs for app's inventory in namespace;
// kinds the cluster no longer serves are left out.
func (a *Applier) statusRefs(ctx context.Context, namespace, app string) ([]status.Ref, error) {
	inv, err := ReadInventory(ctx, a.core, namespace, app)
	if err != nil {
		return nil, err
	}
	var refs []status.Ref
	for _, r := range inv.Objects {
		m, err := a.mappingFor(ctx, r.GroupKind(), "")
		if errors.Is(err, errNoMatch) {
			continue
		}
		if err != nil {
			return nil, err
		}
		refs = append(refs, status.Ref{Resource: m.gvr, Kind: r.GroupKind(), Namespace: r.Namespace, Name: r.Name})
	}
	return refs, nil
}
