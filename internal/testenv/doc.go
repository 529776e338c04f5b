// Package testenv hands tests the local sandbox that hack/testenv starts: a
// CNCF distribution registry and a kwok-backed Kubernetes control plane on
// loopback with one real node (kubelet + containerd), described by the
// KEY=VALUE file .testenv/env at the repository root.
//
// Integration tests call Require, which skips under -short and fails with
// "run make testenv" when the sandbox is missing; they then take a fresh
// namespace (Namespace) and a fresh repository (Repo) each, so they can run
// in parallel and against a sandbox that other test runs share. Tests that
// need processes to run (logs, exec, a served port, a real crash) use the
// real node through RealNode (or RequireRealNode): its Place adds the node
// selector and toleration to a pod spec, its Namespace makes a namespace
// whose pods all run there; every other pod lands on kwok's fake nodes.
//
// Keys of .testenv/env (a non-empty environment variable of the same name
// overrides the file): SKIFF_TEST_KUBECONFIG, SKIFF_TEST_REGISTRY, SKIFF_TEST_BASE_IMAGE,
// SKIFF_TEST_BASE_IMAGE_DIGEST, SKIFF_TEST_CLUSTER, SKIFF_TEST_KWOK_WORKDIR,
// SKIFF_TEST_BIN, SKIFF_TEST_STAGES, SKIFF_TEST_API_SERVER,
// SKIFF_TEST_KUBE_VERSION, SKIFF_TESTENV_ROOT, SKIFF_TEST_SANDBOXCTL, and for
// the real node SKIFF_TEST_REAL_NODE (its name; empty when the sandbox runs
// without it), SKIFF_TEST_REAL_NODE_LABEL, SKIFF_TEST_REAL_NODE_TAINT,
// SKIFF_TEST_REAL_NODE_SUBNET, SKIFF_TEST_REAL_NODE_LOGS and
// SKIFF_TEST_PAUSE_IMAGE. The file's KUBECONFIG line is
// for shells that source it; this package reads SKIFF_TEST_KUBECONFIG only,
// so a developer's own KUBECONFIG can never point tests at a real cluster.
package testenv
