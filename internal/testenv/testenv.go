package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// Env is a running sandbox as described by .testenv/env.
type Env struct {
	root string
	vars map[string]string
}

// TestLabel marks namespaces created by Namespace, so leftovers of killed
// test runs can be found with a label selector.
const TestLabel = "skiff.dev/testenv"

// fieldManager is the server-side apply manager of objects this package applies.
const fieldManager = "skiff-testenv"

// StageGVR is kwok's Stage resource, used to script pod and node behaviour.
var StageGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "stages"}

// sandbox loads and pings the sandbox once per test binary: every test that
// calls Require shares the answer.
var sandbox = sync.OnceValues(func() (*Env, error) {
	env, err := Load()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.ping(ctx); err != nil {
		return nil, err
	}
	return env, nil
})

// Require returns the sandbox for an integration test. Under -short it skips
// the test; a sandbox that is missing or does not answer fails it, since a
// silently skipped integration test hides breakage.
func Require(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the sandbox registry and cluster; skipped under -short")
	}
	env, err := sandbox()
	if err != nil {
		t.Fatalf("the test sandbox is not available: %v\nrun `make testenv` (hack/testenv up) first, or pass -short to skip integration tests", err)
	}
	return env
}

// ping checks that the registry and the API server answer.
func (e *Env) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.Registry()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("registry %s: %w", e.Registry(), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("registry %s: GET /v2/ answered %s", e.Registry(), resp.Status)
	}
	cfg, err := e.RESTConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return fmt.Errorf("API server of %s: %w", e.Kubeconfig(), err)
	}
	return nil
}

// Root is the repository root the sandbox belongs to.
func (e *Env) Root() string { return e.root }

// Var returns any value of .testenv/env (or its environment override), such
// as KeyCluster or KeyBin; "" when it is not set.
func (e *Env) Var(key string) string { return e.vars[key] }

// Registry is the sandbox registry's host:port on loopback (plain HTTP).
func (e *Env) Registry() string { return e.vars[KeyRegistry] }

// BaseImage is the busybox base image in the sandbox registry, by tag.
func (e *Env) BaseImage() string { return e.vars[KeyBaseImage] }

// Kubeconfig is the path of the sandbox cluster's kubeconfig (admin).
func (e *Env) Kubeconfig() string { return e.vars[KeyKubeconfig] }

// RESTConfig is an admin client configuration for the sandbox cluster.
func (e *Env) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("loading sandbox kubeconfig %s: %w", e.Kubeconfig(), err)
	}
	// Parallel tests share one fake cluster; client-side throttling would
	// only make them slower.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, nil
}

// Clientset is a typed admin client for the sandbox cluster; it fails t on error.
func (e *Env) Clientset(t testing.TB) *kubernetes.Clientset {
	t.Helper()
	cfg, err := e.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Dynamic is a dynamic admin client for the sandbox cluster; it fails t on error.
func (e *Env) Dynamic(t testing.TB) *dynamic.DynamicClient {
	t.Helper()
	cfg, err := e.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

// Namespace creates a namespace named after prefix plus a random suffix and
// deletes it when the test ends. Deletion is not awaited: the name is never
// reused, and waiting would only slow the test down.
func (e *Env) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	return e.namespace(t, prefix, nil)
}

func (e *Env) namespace(t testing.TB, prefix string, labels map[string]string) string {
	t.Helper()
	cs := e.Clientset(t)
	p := truncate(sanitize(prefix), 40)
	if p == "" {
		p = "test"
	}
	ns, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: p + "-",
		Labels:       withLabel(labels, TestLabel, "true"),
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating test namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting test namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// WaitDefaultServiceAccount waits until namespace ns has its default
// ServiceAccount, which the controller manager creates a moment after the
// namespace: until then the API server rejects pods created directly
// (controllers retry, so Deployments do not need this).
func (e *Env) WaitDefaultServiceAccount(t testing.TB, ns string) {
	t.Helper()
	cs := e.Clientset(t)
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("namespace %s has no default ServiceAccount: %v", ns, err)
	}
}

// Repo returns a repository in the sandbox registry that no other test uses,
// such as 127.0.0.1:PORT/test/testpush-3f9a1c/app. Add a tag or digest to
// make an image reference. The registry is emptied by hack/testenv down.
func (e *Env) Repo(t testing.TB, name string) string {
	t.Helper()
	n := sanitize(name)
	if n == "" {
		n = "image"
	}
	return fmt.Sprintf("%s/test/%s-%s/%s", e.Registry(), truncate(sanitize(t.Name()), 60), randomSuffix(), n)
}

// KwokStage applies a kwok Stage manifest (YAML or JSON) for the rest of the
// test and deletes it at cleanup. Stages are cluster-scoped, so a failure
// stage should select only the test's own pods, by a label or namespace.
// It returns the Stage's name.
func (e *Env) KwokStage(t testing.TB, manifest []byte) string {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(manifest, &obj.Object); err != nil {
		t.Fatalf("parsing kwok Stage: %v", err)
	}
	if obj.GetKind() != "Stage" || obj.GetName() == "" {
		t.Fatalf("KwokStage wants a named kwok.x-k8s.io Stage, got kind %q name %q", obj.GetKind(), obj.GetName())
	}
	res := e.Dynamic(t).Resource(StageGVR)
	if _, err := res.Apply(t.Context(), obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		t.Fatalf("applying kwok Stage %s: %v", obj.GetName(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := res.Delete(ctx, obj.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting kwok Stage %s: %v", obj.GetName(), err)
		}
	})
	return obj.GetName()
}

func withLabel(labels map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for lk, lv := range labels {
		out[lk] = lv
	}
	return out
}

var invalidName = regexp.MustCompile(`[^a-z0-9]+`)

// sanitize turns s into something valid both as a DNS label prefix and as an
// OCI repository path component: lower-case alphanumerics joined by dashes.
func sanitize(s string) string {
	return strings.Trim(invalidName.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

func truncate(s string, n int) string {
	if len(s) > n {
		s = strings.TrimRight(s[:n], "-")
	}
	return s
}

func randomSuffix() string {
	b := make([]byte, 3)
	rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}
