package env

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// terminating reports whether the namespace name exists and is being
// deleted.
func terminating(ctx context.Context, client kubeclient.Interface, name string) (bool, error) {
	ns, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating, nil
}

// progressEvery is how often a wait for a namespace reports that it still
// waits.
const progressEvery = 10 * time.Second

// waitUntilGone waits, at most timeout, until a terminating namespace is
// gone, reporting progress on events (a stop followed at once by a deploy
// of the same ref finds the old namespace still terminating, and the API
// server refuses new content in it). A namespace that is not terminating
// is no reason to wait.
func waitUntilGone(ctx context.Context, client kubeclient.Interface, name string, timeout time.Duration, events func(Event)) error {
	term, err := terminating(ctx, client, name)
	if err != nil || !term {
		return err
	}
	emitf(events, StepNamespace, "namespace %s is still being deleted; waiting up to %s for it to go", name, timeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	gone := make(chan error, 1)
	go func() { gone <- watchGone(ctx, client, name) }()
	for {
		select {
		case err := <-gone:
			if err != nil {
				return fmt.Errorf("namespace %s is still terminating after %s: %w", name, time.Since(start).Round(time.Second), err)
			}
			emitf(events, StepNamespace, "namespace %s is gone after %s", name, time.Since(start).Round(100*time.Millisecond))
			return nil
		case <-tick.C:
			emitf(events, StepNamespace, "namespace %s is still terminating (%s)", name, time.Since(start).Round(time.Second))
		}
	}
}

// watchGone returns when namespace name no longer exists, or ctx ends.
func watchGone(ctx context.Context, client kubeclient.Interface, name string) error {
	w, err := client.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return fmt.Errorf("watching namespace %s: %w", name, err)
	}
	defer w.Stop()
	// Deleted between the caller's look and the watch: nothing to wait for.
	if _, ok, err := GetNamespace(ctx, client, name); err != nil || !ok {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, open := <-w.ResultChan():
			if !open {
				if _, ok, err := GetNamespace(ctx, client, name); err != nil || !ok {
					return err
				}
				// The server ended the watch (a timeout): watch again.
				return watchGone(ctx, client, name)
			}
			if ev.Type == watch.Deleted {
				return nil
			}
		}
	}
}
