package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/status"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Applier applies manifests to one cluster. It is safe for one apply or
// delete at a time.
type Applier struct {
	host    string
	raw     rest.Interface
	dynamic dynamic.Interface
	core    kubeclient.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	watcher *status.Watcher
	records *Records
	// access memoises access reviews during one apply (see allowed).
	access sync.Map
}

// New connects an Applier to the cluster cfg points at. It does not contact
// the cluster yet.
func New(cfg *rest.Config) (*Applier, error) {
	rawCfg := dynamic.ConfigFor(cfg)
	rawCfg.AcceptContentTypes = "application/json"
	rawCfg.ContentType = "application/json"
	raw, err := rest.UnversionedRESTClientFor(rawCfg)
	if err != nil {
		return nil, fmt.Errorf("configuring the Kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("configuring the Kubernetes client: %w", err)
	}
	core, err := kubeclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("configuring the Kubernetes client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("configuring the Kubernetes client: %w", err)
	}
	return &Applier{
		host:    cfg.Host,
		raw:     raw,
		dynamic: dyn,
		core:    core,
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		watcher: status.NewWatcher(dyn),
		records: NewRecords(core),
	}, nil
}

// Records is the release history store of the Applier's cluster.
func (a *Applier) Records() *Records { return a.records }

// errNoMatch marks a kind the cluster does not serve.
var errNoMatch = errors.New("no such kind")

// mappingFor resolves gk (at version, when given) through the cached
// discovery; resetDiscovery forgets the cache, for CRDs installed meanwhile.
func (a *Applier) mappingFor(ctx context.Context, gk schema.GroupKind, version string) (mapping, error) {
	var versions []string
	if version != "" {
		versions = []string{version}
	}
	m, err := a.mapper.RESTMappingWithContext(ctx, gk, versions...)
	if meta.IsNoMatchError(err) {
		return mapping{}, errNoMatch
	}
	if err != nil {
		return mapping{}, fmt.Errorf("discovering the API resources of %s: %w; check that the cluster is reachable (--kube-context, --kubeconfig)", a.host, err)
	}
	return mapping{gvr: m.Resource, namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}

func (a *Applier) resetDiscovery(ctx context.Context) { a.mapper.ResetWithContext(ctx) }

func (a *Applier) emit(opts Options, e Event) {
	if opts.OnEvent != nil {
		opts.OnEvent(e)
	}
}

func (a *Applier) phase(opts Options, format string, args ...any) {
	a.emit(opts, Event{Type: EventPhase, Message: fmt.Sprintf(format, args...)})
}

func statusOptions(opts Options) status.Options {
	return status.Options{
		Deadline:         opts.StatusCheckDeadline,
		TolerateFailures: opts.TolerateFailures,
		OnEvent: func(e status.Event) {
			if opts.OnEvent != nil {
				opts.OnEvent(Event{Type: EventStatus, Status: e})
			}
		},
	}
}
