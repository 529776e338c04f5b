package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Keys of .testenv/env about the real node.
const (
	// KeyRealNode is the real node's name, empty when the sandbox was
	// started without it (SKIFF_TESTENV_REAL_NODE=0).
	KeyRealNode = "SKIFF_TEST_REAL_NODE"
	// KeyRealNodeLabel is the label (key=value) that selects the real node.
	KeyRealNodeLabel = "SKIFF_TEST_REAL_NODE_LABEL"
	// KeyRealNodeTaint is the real node's taint (key=value:effect).
	KeyRealNodeTaint = "SKIFF_TEST_REAL_NODE_TAINT"
	// KeyRealNodeLogs is the directory of the kubelet's and containerd's logs.
	KeyRealNodeLogs = "SKIFF_TEST_REAL_NODE_LOGS"
	// KeyRealNodeSubnet is the pods' address range on the node's bridge.
	KeyRealNodeSubnet = "SKIFF_TEST_REAL_NODE_SUBNET"
	// KeyRegistryForPods is the sandbox registry as pods on the real node
	// reach it: the same storage served on the bridge's address.
	KeyRegistryForPods = "SKIFF_TEST_REGISTRY_FOR_PODS"
)

// RealNodeNamespaceLabel on a namespace sends its pods to the real node:
// the sandbox's MutatingAdmissionPolicy skiff-testenv-real-node adds the
// node selector and the toleration to every pod created there.
const RealNodeNamespaceLabel = "skiff.dev/testenv-real-node"

// RealNode is the sandbox's real node: kubelet and containerd running real
// containers from images in the sandbox registry. It is tainted, so pods run
// there only when they select it and tolerate the taint (Place), or when
// they are created in a namespace made by Namespace.
type RealNode struct {
	env *Env
	// Name is the node's name.
	Name string
	// NodeSelector selects the real node and no fake one.
	NodeSelector map[string]string
	// Tolerations tolerate the real node's taint.
	Tolerations []corev1.Toleration
	// Registry is the sandbox registry's host:port as the node's pods dial
	// it (they cannot reach the host's loopback): the same repositories as
	// Env.Registry, under another address. Image references keep naming
	// Env.Registry, which the node's containerd pulls from.
	Registry string
}

// RealNode returns the real node for a test that needs processes to run:
// logs from a real process, exec into a real container, a port that
// serves, a real crash. It fails the test when the sandbox was started
// without the real node or the node is not Ready (skipped under -short,
// like Require).
func (e *Env) RealNode(t testing.TB) *RealNode {
	t.Helper()
	n, err := e.realNode()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	node, err := e.Clientset(t).CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the sandbox's real node %s: %v; run hack/testenv status", n.Name, err)
	}
	if !nodeReady(node) {
		t.Fatalf("the sandbox's real node %s is not Ready; run hack/testenv status, logs in %s", n.Name, e.Var(KeyRealNodeLogs))
	}
	if n.Registry == "" {
		t.Fatalf("%s has no %s (the registry for the node's pods): it was written by an older hack/testenv; run hack/testenv up", EnvFile, KeyRegistryForPods)
	}
	return n
}

// RequireRealNode is Require followed by RealNode.
func RequireRealNode(t testing.TB) (*Env, *RealNode) {
	t.Helper()
	env := Require(t)
	return env, env.RealNode(t)
}

func (e *Env) realNode() (*RealNode, error) {
	name := e.Var(KeyRealNode)
	if name == "" {
		return nil, fmt.Errorf("the sandbox has no real node (%s is empty in %s: it was started with SKIFF_TESTENV_REAL_NODE=0, or by an older hack/testenv); run hack/testenv up as root", KeyRealNode, EnvFile)
	}
	labelKey, labelValue, ok := strings.Cut(e.Var(KeyRealNodeLabel), "=")
	if !ok || labelKey == "" {
		return nil, fmt.Errorf("%s: %s %q is not key=value", EnvFile, KeyRealNodeLabel, e.Var(KeyRealNodeLabel))
	}
	taint, err := parseTaint(e.Var(KeyRealNodeTaint))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", EnvFile, KeyRealNodeTaint, err)
	}
	return &RealNode{
		env:          e,
		Name:         name,
		NodeSelector: map[string]string{labelKey: labelValue},
		Tolerations: []corev1.Toleration{{
			Key: taint.Key, Operator: corev1.TolerationOpEqual, Value: taint.Value, Effect: taint.Effect,
		}},
		Registry: e.Var(KeyRegistryForPods),
	}, nil
}

// parseTaint reads key=value:effect.
func parseTaint(s string) (corev1.Taint, error) {
	kv, effect, ok := strings.Cut(s, ":")
	k, v, ok2 := strings.Cut(kv, "=")
	if !ok || !ok2 || k == "" || effect == "" {
		return corev1.Taint{}, fmt.Errorf("taint %q is not key=value:effect", s)
	}
	return corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)}, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Place makes a pod spec run on the real node: it adds the node selector
// and the toleration of the node's taint.
func (n *RealNode) Place(spec *corev1.PodSpec) {
	if spec.NodeSelector == nil {
		spec.NodeSelector = map[string]string{}
	}
	for k, v := range n.NodeSelector {
		spec.NodeSelector[k] = v
	}
	spec.Tolerations = append(spec.Tolerations, n.Tolerations...)
}

// Namespace creates a test namespace, like Env.Namespace, whose pods run on
// the real node whatever their spec says (see RealNodeNamespaceLabel). Use
// it for manifests a test does not write itself, such as an example
// project's.
func (n *RealNode) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := n.env.namespace(t, prefix, map[string]string{RealNodeNamespaceLabel: "true"})
	n.env.WaitDefaultServiceAccount(t, ns)
	return ns
}
