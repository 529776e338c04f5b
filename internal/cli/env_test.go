package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/testenv"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// envProject writes a project with review (dynamic), staging and production
// environments to a temp dir and returns the dir and the app name.
func envProject(t *testing.T, extra string) (string, string) {
	t.Helper()
	app := fmt.Sprintf("t%06x", rand.IntN(1<<24))
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), fmt.Sprintf(`apiVersion: skiff/v1
kind: Config
metadata:
  name: %s
manifests:
  rawYaml: [k8s/*.yaml]
environments:
  - name: review
    dynamic: true
    ttl: 1h
    url: "https://{{.RefSlug}}.example.com"%[2]s
  - name: staging
    onFailure: rollback
  - name: production
    protected: true
    requireTag: "v*"
    approval: required%[2]s
`, app, extra))
	writeApp(t, dir, "1", "")
	return dir, app
}

// writeApp writes the app's manifests: a ConfigMap carrying version, and a
// Deployment whose pods kwok keeps waiting with reason waiting (if set).
func writeApp(t *testing.T, dir, version, waiting string) {
	t.Helper()
	annotations := ""
	if waiting != "" {
		annotations = "\n      annotations: {skiff.dev/test-waiting: " + waiting + "}"
	}
	mustWrite(t, filepath.Join(dir, "k8s", "app.yaml"), fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {version: "%s"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}%s
    spec:
      containers:
      - {name: web, image: "busybox:1.36"}
`, version, annotations))
}

type envListRow struct {
	Environment, Namespace, Ref, Health, Status, URL string
	Revision                                         int
	ExpiresAt                                        *time.Time
}

func envList(t *testing.T, dir string) []envListRow {
	t.Helper()
	out, stderr, code := run(t, dir, "env", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("env list: exit %d: %s", code, stderr)
	}
	var rows []envListRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("env list -o json: %v\n%s", err, out)
	}
	return rows
}

func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, stderr, code := run(t, dir, args...)
	if code != 0 {
		t.Fatalf("skiff %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, stderr)
	}
	return out
}

func onSandbox(t *testing.T) (*testenv.Env, kubernetes.Interface) {
	t.Helper()
	e := testenv.Require(t)
	t.Setenv("KUBECONFIG", e.Kubeconfig())
	for _, v := range []string{"CI_COMMIT_TAG", "CI_COMMIT_REF_NAME", "CI_MERGE_REQUEST_IID", "GITHUB_REF_NAME", "GITHUB_HEAD_REF"} {
		t.Setenv(v, "")
	}
	return e, e.Clientset(t)
}

// cleanupNamespaces deletes the test app's namespaces at the end.
func cleanupNamespaces(t *testing.T, client kubernetes.Interface, app string) {
	t.Cleanup(func() {
		ctx := context.Background()
		nss, _ := env.ListNamespaces(ctx, client, app, "")
		for _, ns := range nss {
			_ = client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		}
		for _, n := range []string{app + "-staging", app + "-production"} {
			_ = client.CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{})
		}
	})
}

func TestEnvReviewLifecycle(t *testing.T) {
	_, client := onSandbox(t)
	dir, app := envProject(t, "")
	cleanupNamespaces(t, client, app)
	ctx := context.Background()

	mustRun(t, dir, "env", "deploy", "review", "--ref", "feature/login")
	mustRun(t, dir, "env", "deploy", "review", "--ref", "Feature/Login") // differs only in case
	mustRun(t, dir, "env", "deploy", "review", "--ref", "feature/login") // a re-push of the same manifests: no new revision
	reviews := map[string]envListRow{}
	for _, r := range envList(t, dir) {
		if r.Environment == "review" {
			reviews[r.Ref] = r
		}
	}
	a, b := reviews["feature/login"], reviews["Feature/Login"]
	if a.Namespace == "" || b.Namespace == "" || a.Namespace == b.Namespace {
		t.Fatalf("two refs must get two namespaces: %+v", reviews)
	}
	if a.Revision != 1 || b.Revision != 1 || a.Health != "healthy" || a.Status != "deployed" || a.ExpiresAt == nil || !strings.HasPrefix(a.URL, "https://feature-login") {
		t.Errorf("env list rows: %+v / %+v", a, b)
	}
	ns, _ := client.CoreV1().Namespaces().Get(ctx, a.Namespace, metav1.GetOptions{})
	for k, want := range map[string]string{env.LabelManagedBy: "skiff", env.LabelApp: app, env.LabelEnvironment: "review", env.LabelRef: env.RefSlug("feature/login")} {
		if ns.Labels[k] != want {
			t.Errorf("namespace label %s = %q, want %q", k, ns.Labels[k], want)
		}
	}

	// Stop one: its namespace goes, the other stays.
	mustRun(t, dir, "env", "stop", "review", "--ref", "Feature/Login")
	if _, err := client.CoreV1().Namespaces().Get(ctx, b.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after env stop: %v", b.Namespace, err)
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, a.Namespace, metav1.GetOptions{}); err != nil {
		t.Errorf("the other review namespace is gone: %v", err)
	}

	// A CI stop job has no checkout: --app finds the namespace by its labels.
	mustRun(t, dir, "env", "deploy", "review", "--ref", "fix/x")
	mustRun(t, t.TempDir(), "env", "stop", "review", "--ref", "fix/x", "--app", app)
	for _, r := range envList(t, dir) {
		if r.Ref == "fix/x" {
			t.Errorf("fix/x still listed after stop: %+v", r)
		}
	}

	// gc: expire one review and production (which is protected: never).
	mustRun(t, dir, "env", "deploy", "review", "--ref", "old")
	mustRun(t, dir, "env", "deploy", "production", "--ref", "refs/tags/v1.0.0", "--approve")
	var old envListRow
	for _, r := range envList(t, dir) {
		if r.Ref == "old" {
			old = r
		}
	}
	past := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	for _, n := range []string{old.Namespace, app + "-production"} {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, env.LabelExpiresAt, past)
		if _, err := client.CoreV1().Namespaces().Patch(ctx, n, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	out := mustRun(t, dir, "env", "gc", "--dry-run")
	if !strings.Contains(out, old.Namespace) || strings.Contains(out, app+"-production") || strings.Contains(out, a.Namespace) {
		t.Errorf("gc --dry-run: %s", out)
	}
	mustRun(t, dir, "env", "gc")
	if _, err := client.CoreV1().Namespaces().Get(ctx, old.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("expired namespace %s after gc: %v", old.Namespace, err)
	}
	for _, n := range []string{a.Namespace, app + "-production"} {
		if _, err := client.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{}); err != nil {
			t.Errorf("gc removed %s: %v", n, err)
		}
	}
}

func TestEnvProductionProtection(t *testing.T) {
	_, client := onSandbox(t)
	dir, app := envProject(t, "")
	cleanupNamespaces(t, client, app)
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"--ref", "main", "--approve"}, "deployed only from tags"},
		{[]string{"--ref", "refs/tags/release-1", "--approve"}, `does not match requireTag "v*"`},
		{[]string{"--ref", "refs/tags/v1.0.0"}, "approval required"},
	}
	for _, tt := range tests {
		_, stderr, code := run(t, dir, append([]string{"env", "deploy", "production"}, tt.args...)...)
		if code == 0 || !strings.Contains(stderr, tt.err) {
			t.Errorf("deploy %v: exit %d, stderr %q, want %q", tt.args, code, stderr, tt.err)
		}
	}
	if _, err := client.CoreV1().Namespaces().Get(context.Background(), app+"-production", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused deploy created the namespace: %v", err)
	}
	mustRun(t, dir, "env", "deploy", "production", "--ref", "refs/tags/v1.0.0", "--approve")
	rows := envList(t, dir)
	for _, r := range rows {
		if r.Environment == "production" && (r.Revision != 1 || r.Health != "healthy") {
			t.Errorf("production row %+v", r)
		}
	}
}

func TestEnvStagingRollback(t *testing.T) {
	e, client := onSandbox(t)
	dir, app := envProject(t, "")
	cleanupNamespaces(t, client, app)
	ns := app + "-staging"
	e.WaitingStage(t, ns)
	ctx := context.Background()
	version := func() string {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data["version"]
	}

	mustRun(t, dir, "env", "deploy", "staging", "--status-check-deadline", "2m")
	writeApp(t, dir, "2", "ImagePullBackOff")
	_, stderr, code := run(t, dir, "env", "deploy", "staging", "--status-check-deadline", "2m")
	if code == 0 || !strings.Contains(stderr, "ImagePullBackOff") {
		t.Fatalf("failing rollout: exit %d, stderr %s", code, stderr)
	}
	if v := version(); v != "1" {
		t.Errorf("after the failed rollout with onFailure rollback the version is %s, want 1", v)
	}
	dep, _ := client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if _, bad := dep.Spec.Template.Annotations["skiff.dev/test-waiting"]; bad {
		t.Error("the failed revision's pod template is still deployed")
	}

	writeApp(t, dir, "3", "")
	mustRun(t, dir, "env", "deploy", "staging")
	if v := version(); v != "3" {
		t.Fatalf("version %s after deploying 3", v)
	}
	mustRun(t, dir, "env", "rollback", "staging", "--to-revision", "1")
	if v := version(); v != "1" {
		t.Errorf("version %s after rollback to revision 1", v)
	}
	out := mustRun(t, dir, "env", "history", "staging")
	for _, want := range []string{"failed", "rollback to revision 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	hist := mustRun(t, dir, "env", "history", "staging", "-o", "json")
	var recs []struct {
		Revision int
		Status   string
	}
	if err := json.Unmarshal([]byte(hist), &recs); err != nil || len(recs) < 5 {
		t.Fatalf("history -o json: %v\n%s", err, hist)
	}
	if last := recs[len(recs)-1]; last.Status != "deployed" {
		t.Errorf("last revision %+v", last)
	}
}

func TestEnvRBACImpersonation(t *testing.T) {
	e, client := onSandbox(t)
	user := fmt.Sprintf("review-bot-%06x", rand.IntN(1<<24))
	dir, app := envProject(t, "\n    as: "+user)
	cleanupNamespaces(t, client, app)

	rbac := mustRun(t, dir, "env", "rbac", "review")
	if !strings.Contains(rbac, "name: "+user) || !strings.Contains(rbac, "kind: ClusterRoleBinding") {
		t.Fatalf("env rbac review:\n%s", rbac)
	}
	// Install it as the cluster administrator (no impersonation for
	// env rbac --apply).
	cleanupClusterObjects(t, e, app)
	adminNS := e.Namespace(t, "rbac")
	mustRun(t, dir, "env", "rbac", "review", "--apply")

	out := mustRun(t, dir, "env", "deploy", "review", "--ref", "feature/rbac")
	if !strings.Contains(out, "created") {
		t.Errorf("review deploy as %s: %s", user, out)
	}
	_, stderr, code := run(t, dir, "env", "deploy", "production", "--ref", "refs/tags/v2.0.0", "--approve")
	if code == 0 || !strings.Contains(strings.ToLower(stderr), "forbidden") {
		t.Errorf("production deploy as %s: exit %d, stderr %s", user, code, stderr)
	}
	if _, err := client.AppsV1().Deployments(app+"-production").Get(context.Background(), "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("production deployment exists after a forbidden deploy: %v", err)
	}

	// RBAC lets the deployer create and delete namespaces and bind its role
	// anywhere; the confinement policy keeps it to review namespaces.
	cfg, err := e.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Impersonate.UserName = user
	as, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// env rbac --apply returned once the policy was in force: no wait.
	ctx := context.Background()
	if err := as.CoreV1().Namespaces().Delete(ctx, adminNS, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err == nil || !strings.Contains(err.Error(), "may only create, change or delete namespaces") {
		t.Fatalf("the review deployer may delete namespace %s: %v", adminNS, err)
	}
	// With the policy active, the deployer still deploys review environments.
	mustRun(t, dir, "env", "deploy", "review", "--ref", "feature/rbac-2")
	rb := env.DeployRoleBinding(app, "review", adminNS, []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}})
	if _, err := as.RbacV1().RoleBindings(adminNS).Create(ctx, rb, metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "may only write in namespaces") {
		t.Errorf("the review deployer could bind its role in %s: %v", adminNS, err)
	}
}
