package testenv

import (
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AgentKubeconfig writes a kubeconfig like the one a GitLab job gets from
// the GitLab agent for Kubernetes: the sandbox's cluster under a context
// named agent (path/to/agent-project:agent-name), and a current context
// that leads nowhere, so that only selecting agent reaches the cluster.
// It returns the file's path.
func (e *Env) AgentKubeconfig(t testing.TB, agent string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(e.Kubeconfig())
	if err != nil {
		t.Fatalf("reading the sandbox kubeconfig: %v", err)
	}
	cur := cfg.Contexts[cfg.CurrentContext]
	if cur == nil {
		t.Fatalf("the sandbox kubeconfig has no current context")
	}
	out := clientcmdapi.NewConfig()
	out.Clusters["gitlab"] = cfg.Clusters[cur.Cluster]
	out.AuthInfos["agent:"+agent] = cfg.AuthInfos[cur.AuthInfo]
	out.Contexts[agent] = &clientcmdapi.Context{Cluster: "gitlab", AuthInfo: "agent:" + agent}
	// Port 1 on loopback: a context that is not selected fails at once.
	out.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	out.AuthInfos["nobody"] = &clientcmdapi.AuthInfo{}
	out.Contexts["nowhere"] = &clientcmdapi.Context{Cluster: "nowhere", AuthInfo: "nobody"}
	out.CurrentContext = "nowhere"
	path := filepath.Join(t.TempDir(), "agent-kubeconfig.yaml")
	if err := clientcmd.WriteToFile(*out, path); err != nil {
		t.Fatal(err)
	}
	return path
}
