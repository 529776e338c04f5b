package apply_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// waitChange waits for a call of the Watch callback.
func waitChange(t *testing.T, changes <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-changes:
	case <-time.After(30 * time.Second):
		t.Fatalf("no change reported within 30s after %s", what)
	}
}

// drain empties changes once nothing has come for a moment.
func drain(changes <-chan struct{}) {
	for {
		select {
		case <-changes:
		case <-time.After(500 * time.Millisecond):
			return
		}
	}
}

func TestWatchFollowsRevisionsInventoryAndPods(t *testing.T) {
	c := newCluster(t, "watch")
	a := c.applier(t)
	ctx := t.Context()
	app := "watched"
	manifests := func(version string) string {
		return `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {version: "` + version + `"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: "pw-` + version + `-s3cr3t"}
---
` + deployment("web", "busybox:1.36", 1, nil)
	}
	if _, err := a.Apply(ctx, c.parse(t, manifests("1")), c.options(app)); err != nil {
		t.Fatal(err)
	}

	changes := make(chan struct{}, 1000)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- a.Watch(wctx, c.ns, app, func() { changes <- struct{}{} })
	}()
	waitChange(t, changes, "starting the watch")
	drain(changes)

	// A new revision: records, inventory and objects change.
	if _, err := a.Apply(ctx, c.parse(t, manifests("2")), c.options(app)); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changes, "a new revision")
	drain(changes)

	// A pod going away changes the Deployment's health: the status watch
	// follows pods too.
	cs := c.env.Clientset(t)
	pods, err := cs.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods of web: %v %v", pods, err)
	}
	if err := cs.CoreV1().Pods(c.ns).Delete(ctx, pods.Items[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changes, "deleting a pod")

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}

	diffs, err := a.Records().Diff(ctx, c.ns, app, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]apply.DiffChange{}
	for _, d := range diffs {
		changed[d.Object] = d.Change
		if strings.Contains(d.Unified, "s3cr3t") {
			t.Errorf("the diff shows a Secret value:\n%s", d.Unified)
		}
	}
	for obj, want := range map[string]apply.DiffChange{"ConfigMap " + c.ns + "/settings": apply.DiffChanged, "Secret " + c.ns + "/creds": apply.DiffChanged, "Deployment.apps " + c.ns + "/web": apply.DiffUnchanged} {
		if changed[obj] != want {
			t.Errorf("%s: %q, want %q (all: %v)", obj, changed[obj], want, changed)
		}
	}
}
