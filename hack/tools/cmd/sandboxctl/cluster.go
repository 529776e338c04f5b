package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// stageGVR is kwok's Stage resource, served once the cluster is created with
// --enable-crds=Stage.
var stageGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "stages"}

const fieldManager = "skiff-testenv"

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return nil, errors.New("-kubeconfig is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", kubeconfig, err)
	}
	cfg.Timeout = 10 * time.Second
	return cfg, nil
}

// runClusterOK exits zero when the API server answers /readyz.
func runClusterOK(ctx context.Context, args []string) error {
	fs := newFlags("cluster-ok")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the sandbox cluster")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 3 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	_, err = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

// runStages applies kwok Stage manifests with server-side apply. It retries
// while the Stage CRD is not served yet, which happens right after create.
func runStages(ctx context.Context, args []string) error {
	fs := newFlags("stages")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the sandbox cluster")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the Stage API")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for _, file := range fs.Args() {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &obj.Object); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if obj.GetKind() != "Stage" || obj.GetName() == "" {
			return fmt.Errorf("%s: not a named kwok Stage", file)
		}
		for {
			_, err = dyn.Resource(stageGVR).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
			if err == nil || !apierrors.IsNotFound(err) {
				break
			}
			if sleep(ctx, 200*time.Millisecond) != nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("applying %s: %w", file, err)
		}
		fmt.Fprintf(os.Stderr, "stage %s applied\n", obj.GetName())
	}
	return nil
}

// runWaitNodes waits until at least -count nodes report Ready.
func runWaitNodes(ctx context.Context, args []string) error {
	fs := newFlags("wait-nodes")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the sandbox cluster")
	count := fs.Int("count", 1, "how many Ready nodes to wait for")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cs, err := clientset(*kubeconfig)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for {
		ready, err := readyNodes(ctx, cs)
		if err == nil && ready >= *count {
			return nil
		}
		if sleep(ctx, 250*time.Millisecond) != nil {
			return fmt.Errorf("%d of %d nodes Ready after %s (last error: %v)", ready, *count, *timeout, err)
		}
	}
}

// runWaitServiceAccount waits until a namespace's default ServiceAccount
// exists: the controller manager makes it, so it proves the controllers run.
func runWaitServiceAccount(ctx context.Context, args []string) error {
	fs := newFlags("wait-serviceaccount")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the sandbox cluster")
	namespace := fs.String("namespace", "default", "namespace")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cs, err := clientset(*kubeconfig)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for {
		_, err := cs.CoreV1().ServiceAccounts(*namespace).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if sleep(ctx, 250*time.Millisecond) != nil {
			return fmt.Errorf("no ServiceAccount %s/default after %s: the controller manager does not work (last error: %v)", *namespace, *timeout, err)
		}
	}
}

// runNodesReady prints how many nodes are Ready.
func runNodesReady(ctx context.Context, args []string) error {
	fs := newFlags("nodes-ready")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the sandbox cluster")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cs, err := clientset(*kubeconfig)
	if err != nil {
		return err
	}
	n, err := readyNodes(ctx, cs)
	if err != nil {
		return err
	}
	fmt.Println(n)
	return nil
}

func clientset(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func readyNodes(ctx context.Context, cs kubernetes.Interface) (int, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, node := range nodes.Items {
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}

// runVerify checks what skiff's environment features rely on: the server
// version, RBAC actually deciding (not AlwaysAllow), impersonation, and the
// ValidatingAdmissionPolicy API in admissionregistration.k8s.io/v1.
func runVerify(ctx context.Context, args []string) error {
	fs := newFlags("verify")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the sandbox cluster")
	version := fs.String("version", "", "expected server gitVersion")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	info, err := cs.Discovery().ServerVersion()
	if err != nil {
		return err
	}
	if *version != "" && info.GitVersion != *version {
		return fmt.Errorf("server version is %s, want %s", info.GitVersion, *version)
	}
	for gv, want := range map[string][]string{
		"rbac.authorization.k8s.io/v1":    {"roles", "rolebindings", "clusterroles", "clusterrolebindings"},
		"admissionregistration.k8s.io/v1": {"validatingadmissionpolicies", "validatingadmissionpolicybindings"},
	} {
		list, err := cs.Discovery().ServerResourcesForGroupVersion(gv)
		if err != nil {
			return fmt.Errorf("discovery of %s: %w", gv, err)
		}
		var have []string
		for _, r := range list.APIResources {
			have = append(have, r.Name)
		}
		for _, r := range want {
			if !slices.Contains(have, r) {
				return fmt.Errorf("API server does not serve %s %s", gv, r)
			}
		}
	}

	const probeUser = "skiff-testenv-probe"
	imp := rest.CopyConfig(cfg)
	imp.Impersonate = rest.ImpersonationConfig{UserName: probeUser}
	ics, err := kubernetes.NewForConfig(imp)
	if err != nil {
		return err
	}
	review, err := ics.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("impersonating %s: %w", probeUser, err)
	}
	if got := review.Status.UserInfo.Username; got != probeUser {
		return fmt.Errorf("impersonation ignored: server saw user %q, want %q", got, probeUser)
	}
	access, err := ics.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: "kube-system", Verb: "list", Resource: "secrets",
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("access review as %s: %w", probeUser, err)
	}
	if access.Status.Allowed {
		return errors.New("an unprivileged user may list secrets: authorization is not RBAC")
	}
	fmt.Fprintf(os.Stderr, "API server %s: RBAC, impersonation and ValidatingAdmissionPolicy available\n", info.GitVersion)
	return nil
}
