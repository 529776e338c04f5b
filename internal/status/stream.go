package status

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// update is one change seen on a stream: a full replacement after a list,
// one object added, modified or deleted, or the error that ended the stream.
type update struct {
	key     streamKey
	replace bool
	items   []*unstructured.Unstructured
	obj     *unstructured.Unstructured
	deleted bool
	err     error
}

// stream lists one resource type in one namespace, then watches it from the
// list's resourceVersion, re-watching when the server closes the watch and
// re-listing when the resourceVersion is too old. It is list-then-watch as
// an informer does, without an informer's logging and resync machinery.
type stream struct {
	ri    dynamic.ResourceInterface
	key   streamKey
	names []string // when exactly one, the stream selects it by name
	out   chan<- update
}

func (s *stream) send(ctx context.Context, u update) bool {
	u.key = s.key
	select {
	case s.out <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *stream) options() metav1.ListOptions {
	var o metav1.ListOptions
	if len(s.names) == 1 {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", s.names[0]).String()
	}
	return o
}

func (s *stream) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		list, err := s.ri.List(ctx, s.options())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsUnauthorized(err) || apierrors.IsMethodNotSupported(err) {
				s.send(ctx, update{err: fmt.Errorf("watching %s in namespace %q: %w", s.key.gvr.Resource, s.key.namespace, err)})
				return
			}
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		items := make([]*unstructured.Unstructured, len(list.Items))
		for i := range list.Items {
			items[i] = &list.Items[i]
		}
		if !s.send(ctx, update{replace: true, items: items}) {
			return
		}
		s.watch(ctx, list.GetResourceVersion())
	}
}

// watch follows changes from rv until the context ends or the
// resourceVersion expires (then the caller lists again).
func (s *stream) watch(ctx context.Context, rv string) {
	for ctx.Err() == nil {
		opts := s.options()
		opts.ResourceVersion = rv
		opts.AllowWatchBookmarks = true
		w, err := s.ri.Watch(ctx, opts)
		if err != nil {
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				return
			}
			sleep(ctx, time.Second)
			continue
		}
		expired := false
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				obj, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					continue
				}
				rv = obj.GetResourceVersion()
				if !s.send(ctx, update{obj: obj, deleted: ev.Type == watch.Deleted}) {
					w.Stop()
					return
				}
			case watch.Bookmark:
				if obj, ok := ev.Object.(*unstructured.Unstructured); ok {
					rv = obj.GetResourceVersion()
				}
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					expired = true
				}
			}
		}
		w.Stop()
		if expired {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
