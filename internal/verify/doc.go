// Package verify runs Skaffold's verify tests (the verify section: test
// containers run after a deploy): locally, in the builder's sandbox as
// skiff test runs command tests, or in the cluster as one Kubernetes Job per
// test (executionMode.kubernetesCluster), with its logs streamed and the
// container's exit code as the result. Behaviour follows Skaffold's
// pkg/skaffold/verify (k8sjob/verify.go for the Job), except where noted.
package verify
