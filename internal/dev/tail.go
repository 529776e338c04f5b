package dev

import (
	"context"

	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// Tail streams the logs of the pods of objs' workloads (objects without a
// namespace are in namespace) as LogLine events until ctx ends; new pods
// and restarts are picked up. skiff run --tail uses it outside a dev
// session.
func Tail(ctx context.Context, client kubeclient.Interface, objs []manifest.Object, namespace string, emit func(Event)) {
	pods := NewPods(client)
	logs := newLogTailer(ctx, client, emit)
	pods.OnChange(logs.podChanged)
	pods.Select(ctx, objs, namespace)
	<-ctx.Done()
	pods.Wait()
	logs.wait()
}
