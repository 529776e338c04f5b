package apply_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// assertUntouched checks that namespace holds no trace of app: no inventory,
// no release record, none of the named ConfigMaps.
func (c *cluster) assertUntouched(t *testing.T, namespace, app string, configMaps ...string) {
	t.Helper()
	cs := c.env.Clientset(t)
	for _, name := range append(configMaps, apply.InventoryName(app)) {
		if _, err := cs.CoreV1().ConfigMaps(namespace).Get(t.Context(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMap %s/%s: err = %v, want NotFound", namespace, name, err)
		}
	}
	secrets, err := cs.CoreV1().Secrets(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 0 {
		t.Errorf("%d Secrets in %s, want none", len(secrets.Items), namespace)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "bad-input")
	a := c.applier(t)
	good := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\ndata: {k: v}\n---\n"
	tests := []struct {
		name, manifests, want string
	}{
		{"unknown kind", good + "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n", "unknown kind: the cluster serves no Gadget of apiVersion example.com/v1"},
		{"missing namespace", good + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: {{ns}}-nowhere}\n", `namespace "` + c.ns + `-nowhere" does not exist`},
		{"defined twice", good + good, "defined twice"},
		{"invalid object", good + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n", "Invalid value"},
		{"invalid field", good + "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: many}\n", "replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Apply(t.Context(), c.parse(t, tt.manifests), c.options("bad"))
			var verr *apply.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a validation error", err)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q, want one line containing %q", err, tt.want)
			}
			c.assertUntouched(t, c.ns, "bad", "good")
		})
	}
}

func TestTargetNamespaceIsNotCreatedOnBadInput(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "bad-newns")
	a := c.applier(t)
	opts := c.options("bad")
	opts.Namespace, opts.CreateNamespace = c.ns+"-new", true
	c.cleanupNamespace(t, opts.Namespace)
	objs := c.parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n---\napiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n")
	if _, err := a.Apply(t.Context(), objs, opts); err == nil {
		t.Fatal("no error")
	}
	if _, err := c.env.Clientset(t).CoreV1().Namespaces().Get(t.Context(), opts.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s: err = %v, want NotFound", opts.Namespace, err)
	}
}

func TestUnreachableCluster(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "unreachable")
	cfg := rest.CopyConfig(c.cfg)
	cfg.Host = "https://127.0.0.1:1"
	a, err := apply.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err = a.Apply(ctx, c.parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n"), c.options("bad"))
	if err == nil || !strings.Contains(err.Error(), "check that the cluster is reachable") {
		t.Errorf("err = %v, want a hint to check the cluster", err)
	}
}

// TestForbiddenNamespace deploys as a user who is admin of one namespace
// only: the apply there works end to end (dry run, records, status check),
// and the same apply to another namespace is refused before any write.
func TestForbiddenNamespace(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "rbac-allowed")
	forbidden := c.env.Namespace(t, "rbac-forbidden")
	user := "deployer@" + c.ns
	cs := c.env.Clientset(t)
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := cs.RbacV1().RoleBindings(c.ns).Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(c.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	as, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The RBAC authorizer learns of new bindings through an informer.
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := as.CoreV1().Secrets(c.ns).List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("the RoleBinding never took effect: %v", err)
	}
	a, err := apply.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	manifests := webSet + deployment("web", "registry.example/web:1.0", 1, nil)

	opts := c.options("shop")
	opts.Namespace = forbidden
	_, err = a.Apply(t.Context(), c.parse(t, manifests), opts)
	var verr *apply.ValidationError
	if !errors.As(err, &verr) || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), user) {
		t.Fatalf("err = %v, want a validation error saying %s is forbidden", err, user)
	}
	c.assertUntouched(t, forbidden, "shop", "web-config")

	res, err := a.Apply(t.Context(), c.parse(t, manifests), c.options("shop"))
	if err != nil {
		t.Fatalf("apply in the namespace %s administers: %v", user, err)
	}
	recs, err := a.Records().List(t.Context(), c.ns, "shop")
	if err != nil || len(recs) != 1 || recs[0].KubeUser != user {
		t.Errorf("records = %+v, %v; want one, by %s", recs, err, user)
	}
	if len(res.Changes) != 3 {
		t.Errorf("changes = %v", res.Changes)
	}
}
