package dev

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// EnvironmentName is the environment label of the namespaces skiff dev
// creates: with the app label it tells a developer's dev namespace apart
// from review and production ones.
const EnvironmentName = "dev"

// DefaultNamespaceTemplate names the developer's own namespace when -n is
// not given: the app and the OS user, through the environments' naming
// (a valid, collision-free DNS label).
const DefaultNamespaceTemplate = "{{.App}}-dev-{{.User}}"

// NamespaceFor is the dev namespace of app for user.
func NamespaceFor(app, user string) (string, error) {
	if user == "" {
		user = "dev"
	}
	return env.NamespaceName(DefaultNamespaceTemplate, true, env.TemplateData{App: app, Name: EnvironmentName, User: user})
}

// NamespaceLabels are the labels of a dev namespace skiff creates.
func NamespaceLabels(app string) map[string]string {
	return env.NamespaceLabels(app, EnvironmentName, env.Ref{}, false, time.Time{})
}

// ClusterDeployer applies the rendered objects as one application in a
// namespace with skiff's applier (inventory, prune, status check) and, at
// the end, deletes exactly what it applied, and the namespace when it is
// skiff's dev namespace for the app.
type ClusterDeployer struct {
	Clients *kube.Clients
	// Options are the apply options; App and Namespace must be set.
	Options apply.Options
	// DeleteTimeout bounds the wait for deleted objects (default 2m).
	DeleteTimeout time.Duration

	once    sync.Once
	created bool // the namespace did not exist before this session
}

// Deploy applies objs.
func (d *ClusterDeployer) Deploy(ctx context.Context, objs []manifest.Object) ([]apply.Change, error) {
	var checkErr error
	d.once.Do(func() {
		_, exists, err := env.GetNamespace(ctx, d.Clients.Core, d.Options.Namespace)
		d.created, checkErr = !exists, err
	})
	if checkErr != nil {
		return nil, checkErr
	}
	applier, err := d.Clients.Applier()
	if err != nil {
		return nil, err
	}
	res, err := applier.Apply(ctx, objs, d.Options)
	if res == nil {
		return nil, err
	}
	return res.Changes, err
}

// Cleanup deletes what Deploy applied (the inventory), then the namespace
// when this session created it or it is the app's dev namespace.
func (d *ClusterDeployer) Cleanup(ctx context.Context) ([]apply.Change, error) {
	timeout := d.DeleteTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ns := d.Options.Namespace
	ours := func(info env.Namespace) bool {
		devNS := info.CreatedBySkiff && info.App == d.Options.App && info.Environment == EnvironmentName
		return (d.created && info.CreatedBySkiff) || devNS
	}
	var events func(env.Event)
	if d.Options.OnEvent != nil {
		events = func(e env.Event) {
			if e.Apply != nil {
				d.Options.OnEvent(*e.Apply)
			}
		}
	}
	changes, deleted, err := env.Teardown(ctx, d.Clients, d.Options.App, ns, timeout, ours, events)
	if deleted {
		changes = append(changes, apply.Change{Object: apply.ObjectRef{Kind: "Namespace", Name: ns}, Action: apply.Deleted})
	}
	return changes, err
}

// Cluster is what the loop needs of the cluster besides applying: the
// pods' exec, log and port-forward APIs.
type Cluster struct {
	Config *rest.Config
	Client kubeclient.Interface
}
