package kube

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// Options say which cluster to talk to and as whom.
type Options struct {
	// Kubeconfig is --kubeconfig; empty means $KUBECONFIG, else ~/.kube/config.
	Kubeconfig string
	// Context is --kube-context; it wins over FallbackContext.
	Context string
	// FallbackContext is the configuration's (deploy.kubeContext, an
	// environment's kubeContext), used when Context is empty.
	FallbackContext string
	// Namespace is --namespace.
	Namespace string
	// As and AsGroups impersonate a deployer identity.
	As       string
	AsGroups []string
	// UserAgent is sent with every request.
	UserAgent string
}

// ErrNoCluster is returned when no kubeconfig names a cluster.
var ErrNoCluster = errors.New("no Kubernetes cluster configured: set KUBECONFIG, --kubeconfig or --kube-context")

// Target is a resolved cluster.
type Target struct {
	Config *rest.Config
	// Context is the kubeconfig context actually used.
	Context string
	// Namespace is --namespace, else the context's namespace, else "default".
	Namespace string
	// NamespaceExplicit is true when --namespace was given.
	NamespaceExplicit bool
}

func (o Options) rules() *clientcmd.ClientConfigLoadingRules {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	return rules
}

// Resolve reads the kubeconfig for o. It does not contact the cluster.
func Resolve(o Options) (*Target, error) {
	ctxName := o.Context
	if ctxName == "" {
		ctxName = o.FallbackContext
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(o.rules(), &clientcmd.ConfigOverrides{CurrentContext: ctxName})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, ErrNoCluster
		}
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.UserAgent = o.UserAgent
	// One apply or status check is a burst of small requests.
	cfg.QPS, cfg.Burst = 200, 400
	cfg.Impersonate.UserName, cfg.Impersonate.Groups = o.As, o.AsGroups
	if ctxName == "" {
		raw, err := cc.RawConfig()
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig: %w", err)
		}
		ctxName = raw.CurrentContext
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	t := &Target{Config: cfg, Context: ctxName, Namespace: ns}
	if o.Namespace != "" {
		t.Namespace, t.NamespaceExplicit = o.Namespace, true
	}
	if t.Namespace == "" {
		t.Namespace = "default"
	}
	return t, nil
}

// CurrentContext is o.Context, else the kubeconfig's current context, else
// empty; it never fails (no kubeconfig is fine for rendering).
func CurrentContext(o Options) string {
	if o.Context != "" {
		return o.Context
	}
	raw, err := o.rules().Load()
	if err != nil || raw == nil {
		return ""
	}
	return raw.CurrentContext
}

// Clients are the clients of one cluster and identity.
type Clients struct {
	Target  *Target
	Core    kubeclient.Interface
	Dynamic dynamic.Interface

	once    sync.Once
	applier *apply.Applier
	err     error
}

// Connect makes the clients of t. It does not contact the cluster.
func Connect(t *Target) (*Clients, error) {
	core, err := kubeclient.NewForConfig(t.Config)
	if err != nil {
		return nil, fmt.Errorf("configuring the Kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(t.Config)
	if err != nil {
		return nil, fmt.Errorf("configuring the Kubernetes client: %w", err)
	}
	return &Clients{Target: t, Core: core, Dynamic: dyn}, nil
}

// Applier is the cluster's Applier, made on first use and shared after.
func (c *Clients) Applier() (*apply.Applier, error) {
	c.once.Do(func() { c.applier, c.err = apply.New(c.Target.Config) })
	return c.applier, c.err
}

// Pool connects once per cluster and identity and hands out the same
// Clients afterwards (and so one discovery cache), for commands that reach
// several environments.
type Pool struct {
	mu      sync.Mutex
	clients map[string]*Clients
}

// Connect resolves o and returns its Clients, made once per kubeconfig,
// context, namespace and identity.
func (p *Pool) Connect(o Options) (*Clients, error) {
	key := strings.Join(append([]string{o.Kubeconfig, o.Context, o.FallbackContext, o.Namespace, o.As}, slices.Sorted(slices.Values(o.AsGroups))...), "\x00")
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c, nil
	}
	t, err := Resolve(o)
	if err != nil {
		return nil, err
	}
	c, err := Connect(t)
	if err != nil {
		return nil, err
	}
	if p.clients == nil {
		p.clients = map[string]*Clients{}
	}
	p.clients[key] = c
	return c, nil
}
