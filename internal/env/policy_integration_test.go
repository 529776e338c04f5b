package env_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestImmutableNamespaceIsEnforcedByTheAPIServer installs the admission
// policy and checks that the API server itself refuses to delete an
// immutable namespace or to remove its label, while ordinary namespaces stay
// untouched.
func TestImmutableNamespaceIsEnforcedByTheAPIServer(t *testing.T) {
	e := testenv.Require(t)
	client := e.Clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.Protect(ctx, e.Dynamic(t)); err != nil {
		t.Fatal(err)
	}
	// Installing twice is fine.
	if err := env.Protect(ctx, e.Dynamic(t)); err != nil {
		t.Fatal(err)
	}
	name := "skiff-immutable-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))[:20] + "-" + time.Now().Format("150405")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: env.NamespaceLabels("shop", "production", env.Ref{Name: "v1.0.0", Tag: true}, true, time.Time{})}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Nothing may remove the label while the policy is bound, so the
		// test unbinds it, deletes the namespace and binds it again.
		bg := context.Background()
		_ = e.Dynamic(t).Resource(env.PolicyBindingGVRForTest).Delete(bg, env.PolicyName, metav1.DeleteOptions{})
		waitFor(t, func() bool {
			return client.CoreV1().Namespaces().Delete(bg, name, metav1.DeleteOptions{}) == nil
		})
		if err := env.Protect(bg, e.Dynamic(t)); err != nil {
			t.Errorf("re-installing the policy: %v", err)
		}
	})

	// The policy takes a moment to reach the API server's admission chain.
	var delErr error
	waitFor(t, func() bool {
		delErr = client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		return delErr != nil
	})
	if !strings.Contains(delErr.Error(), "immutable") {
		t.Fatalf("delete of an immutable namespace: %v", delErr)
	}
	if err := client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err == nil || !strings.Contains(err.Error(), "cannot be deleted") {
		t.Fatalf("delete was not denied: %v", err)
	}

	removeLabel, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{env.LabelImmutable: nil}}})
	if _, err := client.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, removeLabel, metav1.PatchOptions{}); err == nil || !strings.Contains(err.Error(), "cannot be removed") {
		t.Fatalf("removing the label was not denied: %v", err)
	}
	changeLabel, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{env.LabelImmutable: "false"}}})
	if _, err := client.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, changeLabel, metav1.PatchOptions{}); err == nil {
		t.Fatal("changing the label was not denied")
	}
	// Other updates of an immutable namespace are allowed.
	other, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{"team": "payments"}}})
	if _, err := client.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, other, metav1.PatchOptions{}); err != nil {
		t.Fatalf("an unrelated label change was denied: %v", err)
	}

	// A namespace without the label is not concerned.
	free := e.Namespace(t, "mutable")
	if err := client.CoreV1().Namespaces().Delete(ctx, free, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("deleting an ordinary namespace was denied: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
