package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

var (
	crdGVR  = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	vapGVR  = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	vapbGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
)

// impersonating returns clients of the sandbox acting as user.
func impersonating(t *testing.T, e *testenv.Env, user string) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	cfg, err := e.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Impersonate.UserName = user
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return core, dyn
}

// cleanupClusterObjects deletes, at the end, the cluster-scoped objects of
// app that env rbac --apply and its deploys made (they are labelled with
// the app).
func cleanupClusterObjects(t *testing.T, e *testenv.Env, app string) {
	t.Cleanup(func() {
		ctx := context.Background()
		dyn := e.Dynamic(t)
		sel := metav1.ListOptions{LabelSelector: env.LabelApp + "=" + app}
		for _, gvr := range []schema.GroupVersionResource{vapbGVR, vapGVR, crdGVR,
			{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
			{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}} {
			_ = dyn.Resource(gvr).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
		}
	})
}

// clusterManifests are a review environment's cluster-scoped objects: a
// CRD and a ClusterRoleBinding of a ClusterRole reading it (made by the
// administrator: binding it needs it to exist, and the deployer holds what
// it grants).
func clusterManifests(app string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.%[1]s.example.com}
spec:
  group: %[1]s.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %[1]s-widget-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[1]s-widget-reader}
subjects:
- {kind: ServiceAccount, name: default, namespace: default}
`, app)
}

// TestEnvReviewDeployerReach impersonates the review deployer env rbac
// generates, on the sandbox's API server: its manifests hold cluster-scoped
// objects (listed in allowClusterObjects), which it may write by name only;
// binding its deploy role cluster-wide, deleting a CRD it does not own,
// relabelling another namespace, editing its confinement policy and reading
// another namespace's Secrets are all denied, while its own deploy works.
// env rbac --apply returns only once the confinement is enforced: the first
// request right after it is denied.
func TestEnvReviewDeployerReach(t *testing.T) {
	e, client := onSandbox(t)
	user := fmt.Sprintf("review-bot-%06x", rand.IntN(1<<24))
	dir, app := envProject(t, "\n    as: "+user)
	cleanupNamespaces(t, client, app)
	cleanupClusterObjects(t, e, app)
	mustWrite(t, filepath.Join(dir, "k8s", "cluster.yaml"), clusterManifests(app))
	ctx := context.Background()

	// Unlisted cluster-scoped objects: refused, naming the field to set.
	_, stderr, code := run(t, dir, "env", "rbac", "review")
	if code == 0 || !strings.Contains(stderr, "environments[review].allowClusterObjects") || !strings.Contains(stderr, "widgets."+app+".example.com") {
		t.Fatalf("env rbac review with unlisted cluster objects: exit %d, %s", code, stderr)
	}
	conf := readFile(t, filepath.Join(dir, "skiff.yaml"))
	allow := fmt.Sprintf("\n    allowClusterObjects: [CustomResourceDefinition/widgets.%[1]s.example.com, ClusterRoleBinding/%[1]s-widget-reader]", app)
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), strings.Replace(conf, "\n    as: "+user, "\n    as: "+user+allow, 1))

	reader := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: app + "-widget-reader", Labels: map[string]string{env.LabelApp: app}},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, ResourceNames: []string{"widgets." + app + ".example.com"}, Verbs: []string{"get"}}},
	}
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, reader, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, dir, "env", "rbac", "review", "--apply")
	if !strings.Contains(out, "confined") {
		t.Errorf("env rbac --apply: %s", out)
	}
	as, asDyn := impersonating(t, e, user)
	adminNS := e.Namespace(t, "reach")

	// Right after env rbac --apply returns: the confinement is in force.
	relabel, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{env.LabelApp: app, env.LabelEnvironment: "review"}}})
	if _, err := as.CoreV1().Namespaces().Patch(ctx, adminNS, types.MergePatchType, relabel, metav1.PatchOptions{}); err == nil || !apierrors.IsForbidden(err) {
		t.Errorf("the review deployer relabelled namespace %s: %v", adminNS, err)
	}

	// Binding the deploy role cluster-wide, under the one ClusterRoleBinding
	// name it may write, labelled as the policy wants: denied.
	escalate := &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: app + "-widget-reader", Labels: env.ClusterLabels(app, "review")},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: env.DeployRoleName(app, "review")},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	data, _ := json.Marshal(escalate)
	force := true
	_, err := as.RbacV1().ClusterRoleBindings().Patch(ctx, escalate.Name, types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "attacker", Force: &force})
	if err == nil || !strings.Contains(err.Error(), "may not bind its own cluster roles") {
		t.Errorf("the review deployer bound its deploy role cluster-wide: %v", err)
	}
	escalate.Name = app + "-escalate"
	if _, err := as.RbacV1().ClusterRoleBindings().Create(ctx, escalate, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the review deployer created a ClusterRoleBinding it does not own: %v", err)
	}

	// Its own deploy, cluster-scoped objects included, works.
	mustRun(t, dir, "env", "deploy", "review", "--ref", "feature/reach")
	crb, err := client.RbacV1().ClusterRoleBindings().Get(ctx, app+"-widget-reader", metav1.GetOptions{})
	if err != nil || crb.Labels[env.LabelApp] != app || crb.Labels[env.LabelEnvironment] != "review" {
		t.Fatalf("the deployed ClusterRoleBinding: %v %v", crb, err)
	}

	// A CRD of somebody else's: the deployer may neither delete nor change
	// it.
	gadgets := "gadgets." + app + ".example.com"
	otherCRD := strings.NewReplacer("widgets."+app, "gadgets."+app, "plural: widgets, singular: widget, kind: Widget", "plural: gadgets, singular: gadget, kind: Gadget").Replace(strings.Split(clusterManifests(app), "---")[0])
	otherCRD = strings.Replace(otherCRD, "metadata: {", "metadata: {labels: {"+env.LabelApp+": "+app+"}, ", 1)
	otherDir := t.TempDir()
	mustWrite(t, filepath.Join(otherDir, "crd.yaml"), otherCRD)
	mustRun(t, otherDir, "apply", "--app", "other-"+app, "-n", adminNS, filepath.Join(otherDir, "crd.yaml"))
	t.Cleanup(func() {
		_ = e.Dynamic(t).Resource(crdGVR).Delete(context.Background(), gadgets, metav1.DeleteOptions{})
	})
	if err := asDyn.Resource(crdGVR).Delete(ctx, gadgets, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the review deployer deleted CRD %s: %v", gadgets, err)
	}
	if _, err := e.Dynamic(t).Resource(crdGVR).Get(ctx, gadgets, metav1.GetOptions{}); err != nil {
		t.Errorf("CRD %s after the deployer's delete: %v", gadgets, err)
	}
	// Its own CRD may not lose the environment's labels either.
	unlabel, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{env.LabelApp: nil}}})
	if _, err := asDyn.Resource(crdGVR).Patch(ctx, "widgets."+app+".example.com", types.MergePatchType, unlabel, metav1.PatchOptions{}); err == nil || !strings.Contains(err.Error(), "allowClusterObjects") {
		t.Errorf("the review deployer unlabelled its CRD: %v", err)
	}

	// Editing or unbinding the confinement policy: denied.
	policy := env.ConfinementPolicyName(app, "review")
	loosen, _ := json.Marshal(map[string]any{"spec": map[string]any{"validations": []any{map[string]any{"expression": "true"}}}})
	if _, err := asDyn.Resource(vapGVR).Patch(ctx, policy, types.MergePatchType, loosen, metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the review deployer edited its confinement policy: %v", err)
	}
	if err := asDyn.Resource(vapbGVR).Delete(ctx, policy, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the review deployer deleted its confinement policy's binding: %v", err)
	}
	// Reads never pass admission: RBAC alone keeps other namespaces'
	// Secrets from it.
	if _, err := as.CoreV1().Secrets(adminNS).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the review deployer listed the Secrets of %s: %v", adminNS, err)
	}
	// Changing another namespace's labels: still denied after the deploy.
	if _, err := as.CoreV1().Namespaces().Patch(ctx, adminNS, types.MergePatchType, relabel, metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the review deployer relabelled namespace %s: %v", adminNS, err)
	}
	// And a second deploy of its own still works.
	mustRun(t, dir, "env", "deploy", "review", "--ref", "feature/reach")
}

// TestEnvProtectEnforcedOnReturn: right after skiff env protect returns,
// the API server refuses to delete the immutable namespace it labelled and
// to remove the label; the test does not wait.
func TestEnvProtectEnforcedOnReturn(t *testing.T) {
	e, client := onSandbox(t)
	app := fmt.Sprintf("t%06x", rand.IntN(1<<24))
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), fmt.Sprintf(`apiVersion: skiff/v1
kind: Config
metadata: {name: %s}
manifests:
  rawYaml: [k8s/*.yaml]
environments:
  - name: production
    immutableNamespace: true
`, app))
	writeApp(t, dir, "1", "")
	ctx := context.Background()
	ns := app + "-production"
	// Labelled already, as a namespace of a cluster whose policy is gone.
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{env.LabelImmutable: "true"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The policy is the cluster's, shared with other tests: unbind it so
	// this protect installs it anew, as on a fresh cluster.
	dyn := e.Dynamic(t)
	if err := dyn.Resource(vapbGVR).Delete(ctx, env.PolicyName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	// Setup, not the property tested: wait until the API server no longer
	// enforces the unbound policy, so the window env protect must close is
	// really open.
	for i := 0; client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}) != nil; i++ {
		if i == 300 {
			t.Fatal("the unbound immutability policy is still enforced after 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() {
		bg := context.Background()
		_ = dyn.Resource(vapbGVR).Delete(bg, env.PolicyName, metav1.DeleteOptions{})
		for i := 0; i < 300 && client.CoreV1().Namespaces().Delete(bg, ns, metav1.DeleteOptions{}) != nil; i++ {
			time.Sleep(200 * time.Millisecond)
		}
		if err := env.Protect(bg, dyn); err != nil {
			t.Errorf("re-installing the policy: %v", err)
		}
	})

	out := mustRun(t, dir, "env", "protect")
	if !strings.Contains(out, "enforced") || !strings.Contains(out, "Namespace "+ns+" (environment production) is immutable") {
		t.Errorf("env protect: %s", out)
	}
	if err := client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err == nil || !strings.Contains(err.Error(), "cannot be deleted") {
		t.Fatalf("deleting the immutable namespace right after env protect: %v", err)
	}
	unlabel, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{env.LabelImmutable: nil}}})
	if _, err := client.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, unlabel, metav1.PatchOptions{}); err == nil || !strings.Contains(err.Error(), "cannot be removed") {
		t.Fatalf("removing the immutable label right after env protect: %v", err)
	}
}

// A policy that never takes effect ends the wait with a clear error: here
// a deployer no RBAC and no policy concern is never refused the way the
// confinement policy refuses.
func TestWaitConfinedGivesUp(t *testing.T) {
	e, _ := onSandbox(t)
	cfg, err := e.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { env.EnforceWait = d }(env.EnforceWait)
	env.EnforceWait = 2 * time.Second
	err = env.WaitConfined(context.Background(), cfg, "nobody", "nowhere", []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "nobody-at-all"}})
	if err == nil || !strings.Contains(err.Error(), "is not enforced by the API server after 2s") {
		t.Fatalf("WaitConfined without a policy: %v", err)
	}
}
