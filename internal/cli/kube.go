package cli

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeTarget is the cluster a command talks to, from --kubeconfig,
// --kube-context and --namespace (or what the kubeconfig context says).
type kubeTarget struct {
	Config    *rest.Config
	Context   string // the context actually used
	Namespace string // --namespace, else the context's namespace, else "default"
	// NamespaceExplicit is true when --namespace was given.
	NamespaceExplicit bool
}

// kube resolves the cluster the global flags point at. kubeContext, when not
// empty, overrides --kube-context (deploy.kubeContext or an environment's).
func (g *globalOptions) kube(kubeContext string) (*kubeTarget, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if g.Kubeconfig != "" {
		rules.ExplicitPath = g.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{}
	ctxName := g.KubeContext
	if ctxName == "" {
		ctxName = kubeContext
	}
	overrides.CurrentContext = ctxName
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("no Kubernetes cluster configured: set KUBECONFIG, --kubeconfig or --kube-context")
		}
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.UserAgent = "skiff/" + version
	cfg.QPS, cfg.Burst = 50, 100
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	t := &kubeTarget{Config: cfg, Context: ctxName, Namespace: ns}
	if g.Namespace != "" {
		t.Namespace, t.NamespaceExplicit = g.Namespace, true
	}
	if t.Namespace == "" {
		t.Namespace = "default"
	}
	return t, nil
}
