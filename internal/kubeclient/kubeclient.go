package kubeclient

import (
	"errors"
	"fmt"
	"net/http"

	"k8s.io/client-go/discovery"
	admissionregistrationv1 "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	appsv1 "k8s.io/client-go/kubernetes/typed/apps/v1"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	batchv1 "k8s.io/client-go/kubernetes/typed/batch/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	rbacv1 "k8s.io/client-go/kubernetes/typed/rbac/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Interface is the part of client-go's kubernetes.Interface skiff uses. A
// *kubernetes.Clientset satisfies it too, so tests may pass either.
type Interface interface {
	Discovery() discovery.DiscoveryInterfaces
	AdmissionregistrationV1() admissionregistrationv1.AdmissionregistrationV1Interface
	AppsV1() appsv1.AppsV1Interface
	AuthenticationV1() authenticationv1.AuthenticationV1Interface
	AuthorizationV1() authorizationv1.AuthorizationV1Interface
	BatchV1() batchv1.BatchV1Interface
	CoreV1() corev1.CoreV1Interface
	RbacV1() rbacv1.RbacV1Interface
}

// Clientset is Interface over one rest.Config.
type Clientset struct {
	discovery *discovery.DiscoveryClient
	admission *admissionregistrationv1.AdmissionregistrationV1Client
	apps      *appsv1.AppsV1Client
	authn     *authenticationv1.AuthenticationV1Client
	authz     *authorizationv1.AuthorizationV1Client
	batch     *batchv1.BatchV1Client
	core      *corev1.CoreV1Client
	rbac      *rbacv1.RbacV1Client
}

// NewForConfig makes a Clientset the way client-go's kubernetes.NewForConfig
// does: the default user agent when c sets none, one HTTP client shared by
// every group, and a token-bucket rate limiter from QPS and Burst.
func NewForConfig(c *rest.Config) (*Clientset, error) {
	cfg := *c
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if cfg.RateLimiter == nil && cfg.QPS > 0 {
		if cfg.Burst <= 0 {
			return nil, errors.New("kubernetes client: burst must be greater than 0 when QPS is set")
		}
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	hc, err := rest.HTTPClientFor(&cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return newForConfigAndClient(&cfg, hc)
}

func newForConfigAndClient(cfg *rest.Config, hc *http.Client) (*Clientset, error) {
	var cs Clientset
	var errs []error
	group := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	cs.admission, err = admissionregistrationv1.NewForConfigAndClient(cfg, hc)
	group(err)
	cs.apps, err = appsv1.NewForConfigAndClient(cfg, hc)
	group(err)
	cs.authn, err = authenticationv1.NewForConfigAndClient(cfg, hc)
	group(err)
	cs.authz, err = authorizationv1.NewForConfigAndClient(cfg, hc)
	group(err)
	cs.batch, err = batchv1.NewForConfigAndClient(cfg, hc)
	group(err)
	cs.core, err = corev1.NewForConfigAndClient(cfg, hc)
	group(err)
	cs.rbac, err = rbacv1.NewForConfigAndClient(cfg, hc)
	group(err)
	cs.discovery, err = discovery.NewDiscoveryClientForConfigAndClient(cfg, hc)
	group(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &cs, nil
}

// Discovery is the discovery client.
func (c *Clientset) Discovery() discovery.DiscoveryInterfaces { return c.discovery }

// AdmissionregistrationV1 is the admissionregistration.k8s.io/v1 client.
func (c *Clientset) AdmissionregistrationV1() admissionregistrationv1.AdmissionregistrationV1Interface {
	return c.admission
}

// AppsV1 is the apps/v1 client.
func (c *Clientset) AppsV1() appsv1.AppsV1Interface { return c.apps }

// AuthenticationV1 is the authentication.k8s.io/v1 client.
func (c *Clientset) AuthenticationV1() authenticationv1.AuthenticationV1Interface { return c.authn }

// AuthorizationV1 is the authorization.k8s.io/v1 client.
func (c *Clientset) AuthorizationV1() authorizationv1.AuthorizationV1Interface { return c.authz }

// BatchV1 is the batch/v1 client.
func (c *Clientset) BatchV1() batchv1.BatchV1Interface { return c.batch }

// CoreV1 is the core v1 client.
func (c *Clientset) CoreV1() corev1.CoreV1Interface { return c.core }

// RbacV1 is the rbac.authorization.k8s.io/v1 client.
func (c *Clientset) RbacV1() rbacv1.RbacV1Interface { return c.rbac }
