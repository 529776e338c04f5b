package hooks_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/hooks"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// TestContainerHooksOnRealNode execs deploy and sync container hooks in
// real containers: deploy hooks by pod and container name globs, once per
// container and phase; sync hooks in the containers running the image; a
// failing command stops with its output and exit status.
func TestContainerHooksOnRealNode(t *testing.T) {
	e, node := testenv.RequireRealNode(t)
	ns := node.Namespace(t, "hooks")
	cs := e.Clientset(t)
	zero := int64(0)
	sleep := []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "api-0"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{
				{Name: "app", Image: e.BaseImage(), Command: sleep},
				{Name: "sidecar", Image: e.BaseImage(), Command: sleep},
			},
		},
	}
	ctx := t.Context()
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		running := 0
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Running != nil {
				running++
			}
		}
		return p.Status.Phase == corev1.PodRunning && running == 2, nil
	})
	if err != nil {
		t.Fatalf("pod never ran: %v", err)
	}
	cfg, err := e.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &hooks.Runner{Out: &out, Cluster: &hooks.Cluster{Config: cfg, Client: cs}}
	dh := config.DeployHooks{PostHooks: []config.DeployHookItem{
		{ContainerHook: &config.NamedContainerHook{ContainerHook: config.ContainerHook{Command: []string{"sh", "-c", "echo migrated in $HOSTNAME; touch /tmp/ran"}}, PodName: "api-*", ContainerName: "app"}},
		{ContainerHook: &config.NamedContainerHook{ContainerHook: config.ContainerHook{Command: []string{"sh", "-c", "echo never"}}, PodName: "web-*"}},
	}}
	env := hooks.DeployEnv{RunID: "r1", Namespaces: []string{ns}}
	if err := r.Deploy(ctx, nil, "deploy.kubectl.hooks", dh, hooks.PostDeploy, env); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[api-0 app] migrated in api-0") || strings.Contains(out.String(), "never") {
		t.Errorf("deploy container hook output:\n%s", out.String())
	}
	// The hook ran in app only.
	check := config.DeployHooks{PostHooks: []config.DeployHookItem{{ContainerHook: &config.NamedContainerHook{ContainerHook: config.ContainerHook{Command: []string{"test", "-e", "/tmp/ran"}}, PodName: "api-0"}}}}
	err = (&hooks.Runner{Cluster: r.Cluster}).Deploy(ctx, nil, "deploy.kubectl.hooks", check, hooks.PostDeploy, env)
	if err == nil || !strings.Contains(err.Error(), "container sidecar") || !strings.Contains(err.Error(), "exit code 1") {
		t.Errorf("checking where the hook ran: %v; want a failure in sidecar only", err)
	}
	// A second deploy of the same session skips the containers the phase
	// already reached.
	out.Reset()
	if err := r.Deploy(ctx, nil, "deploy.kubectl.hooks", dh, hooks.PostDeploy, env); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "migrated") {
		t.Errorf("the hook ran again in a container it had reached:\n%s", out.String())
	}

	// Sync hooks run in the containers running the artifact's image.
	out.Reset()
	sh := config.SyncHooks{PreHooks: []config.SyncHookItem{{ContainerHook: &config.ContainerHook{Command: []string{"sh", "-c", "echo sync; echo failing >&2; exit 7"}}}}}
	err = r.Sync(ctx, nil, "build.artifacts[0].sync.hooks", sh, hooks.PreSync, "web", e.BaseImage(), hooks.SyncEnv{Namespaces: []string{ns}})
	if err == nil || !strings.Contains(err.Error(), "build.artifacts[0].sync.hooks.before[0]: pre-sync hook failed") ||
		!strings.Contains(err.Error(), "exit code 7") || !strings.Contains(err.Error(), "failing") {
		t.Errorf("failing sync hook: %v", err)
	}
	for _, c := range []string{"] sync", `Starting pre-sync hooks for artifact "web"`} {
		if !strings.Contains(out.String(), c) {
			t.Errorf("sync hook output lacks %q:\n%s", c, out.String())
		}
	}
}
