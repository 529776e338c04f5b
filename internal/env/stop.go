package env

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/kube"
)

// The steps of Stop.
const (
	StepFind      = "find"      // the namespace of the environment for the ref
	StepInventory = "inventory" // delete what the application's inventory lists
	StepTeardown  = "teardown"  // delete the namespace skiff created
)

// StopRequest stops one dynamic environment of an application.
type StopRequest struct {
	App, Environment string
	Ref              Ref
	// Namespace is the environment's namespace when the configuration
	// says it; empty means finding it by its labels (a CI stop job has no
	// checkout, so no configuration).
	Namespace string
	// Wait bounds the wait for deleted objects (default 5m).
	Wait time.Duration
}

// StopResult says what Stop did.
type StopResult struct {
	// Namespace is the environment's namespace; empty when nothing of the
	// environment was deployed for the ref.
	Namespace string
	// Changes are the deleted objects.
	Changes []apply.Change
	// NamespaceDeleted is true when the namespace went too.
	NamespaceDeleted bool
}

// Stop removes a dynamic environment: everything in the application's
// inventory in its namespace, then the namespace when skiff created it and
// it is not immutable.
func Stop(ctx context.Context, c *kube.Clients, req StopRequest, events func(Event)) (*StopResult, error) {
	res := &StopResult{Namespace: req.Namespace}
	err := runSteps(ctx, []step{{StepFind, func(ctx context.Context) error {
		if res.Namespace != "" {
			return nil
		}
		live, err := ListNamespaces(ctx, c.Core, req.App, req.Environment)
		if err != nil {
			return err
		}
		for _, ns := range live {
			if ns.Ref == req.Ref.Name || ns.Ref == RefSlug(req.Ref.Name) {
				res.Namespace = ns.Name
			}
		}
		return nil
	}}})
	if err != nil || res.Namespace == "" {
		return res, err
	}
	changes, deleted, err := Teardown(ctx, c, req.App, res.Namespace, req.Wait, StoppableNamespace, events)
	res.Changes, res.NamespaceDeleted = changes, deleted
	return res, err
}

// StoppableNamespace is Stop's and Collect's rule: a namespace skiff
// created that is not immutable.
func StoppableNamespace(ns Namespace) bool { return ns.CreatedBySkiff && !ns.Immutable }

// Teardown deletes app's inventory in namespace, waiting (at most wait,
// default 5m) until its objects are gone, then the namespace itself when
// deleteNamespace says so. skiff env stop, env gc and dev's cleanup all end
// an environment here.
func Teardown(ctx context.Context, c *kube.Clients, app, namespace string, wait time.Duration, deleteNamespace func(Namespace) bool, events func(Event)) (changes []apply.Change, namespaceDeleted bool, err error) {
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	err = runSteps(ctx, []step{
		{StepInventory, func(ctx context.Context) error {
			applier, err := c.Applier()
			if err != nil {
				return err
			}
			changes, err = applier.Delete(ctx, apply.DeleteOptions{
				App: app, Namespace: namespace, Wait: true, WaitTimeout: wait, OnEvent: applyEvents(events, StepInventory),
			})
			return err
		}},
		{StepTeardown, func(ctx context.Context) error {
			ns, ok, err := GetNamespace(ctx, c.Core, namespace)
			if err != nil || !ok || !deleteNamespace(ns) {
				return err
			}
			if err := DeleteNamespace(ctx, c.Core, namespace); err != nil {
				return err
			}
			namespaceDeleted = true
			return nil
		}},
	})
	return changes, namespaceDeleted, err
}

// CollectRequest says which expired environments Collect stops.
type CollectRequest struct {
	// App limits collection to one application; empty means every one.
	App string
	// Protected are environments never collected (the configuration's
	// protected ones).
	Protected map[string]bool
	// Now is the time expiry is judged at.
	Now time.Time
	// DryRun only lists what would be stopped.
	DryRun bool
}

// Collected is one expired environment Collect found.
type Collected struct {
	Namespace Namespace
	// Stop is what stopping it did; nil on a dry run or when it failed.
	Stop *StopResult
	// Err is why stopping it failed.
	Err error
}

// Collect stops every dynamic environment past its expiry (env gc): those
// in namespaces skiff created, neither immutable nor of a protected
// environment. It goes on after a failure and reports each; the error
// names those it could not stop.
func Collect(ctx context.Context, c *kube.Clients, req CollectRequest, events func(Event)) ([]Collected, error) {
	live, err := ListNamespaces(ctx, c.Core, req.App, "")
	if err != nil {
		return nil, err
	}
	var out []Collected
	var failed []error
	for _, ns := range live {
		if !ns.Expired(req.Now) || !StoppableNamespace(ns) || req.Protected[ns.Environment] {
			continue
		}
		col := Collected{Namespace: ns}
		if !req.DryRun {
			res := &StopResult{Namespace: ns.Name}
			res.Changes, res.NamespaceDeleted, col.Err = Teardown(ctx, c, ns.App, ns.Name, 0, StoppableNamespace, events)
			if col.Err == nil {
				col.Stop = res
			} else {
				failed = append(failed, fmt.Errorf("stopping %s: %w", ns.Name, col.Err))
			}
		}
		out = append(out, col)
	}
	return out, errors.Join(failed...)
}
