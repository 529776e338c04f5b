package kube

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// TestAgentContext: a context named like the GitLab agent's
// (group/subgroup/project:agent) selects its cluster as --kube-context and
// as an environment's kubeContext, while the kubeconfig's current context
// is another one.
func TestAgentContext(t *testing.T) {
	e := testenv.Require(t)
	const agent = "my-group/sub.group/deploy-project:skiff-agent"
	kubeconfig := e.AgentKubeconfig(t, agent)
	for _, o := range []Options{
		{Kubeconfig: kubeconfig, Context: agent},
		{Kubeconfig: kubeconfig, FallbackContext: agent},
		{Kubeconfig: kubeconfig, Context: agent, FallbackContext: "nowhere"},
	} {
		target, err := Resolve(o)
		if err != nil {
			t.Fatal(err)
		}
		if target.Context != agent {
			t.Errorf("%+v: resolved context %q, want %q", o, target.Context, agent)
		}
		c, err := Connect(target)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Core.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
			t.Errorf("%+v: the agent context does not reach the cluster: %v", o, err)
		}
	}
	if got := CurrentContext(Options{Kubeconfig: kubeconfig, Context: agent}); got != agent {
		t.Errorf("CurrentContext = %q, want %q", got, agent)
	}
	// Without the agent context, the current one leads nowhere: the test
	// would pass for the wrong reason otherwise.
	target, err := Resolve(Options{Kubeconfig: kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := Connect(target)
	if _, err := c.Core.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err == nil {
		t.Error("the current context reached a cluster; it should lead nowhere")
	}
}
