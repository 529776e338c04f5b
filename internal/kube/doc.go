// Package kube connects skiff to clusters: it resolves a kubeconfig, a
// context and an identity to impersonate into a rest.Config, and makes the
// clients and Applier of that cluster once, for every workflow of an
// invocation to share. It talks to no cluster itself.
package kube
