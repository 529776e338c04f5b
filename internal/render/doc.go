// Package render turns a project's manifest sources (rawYaml globs, kustomize
// overlays, helm releases) into one deterministic list of Kubernetes objects
// with the built images pinned, the target namespace filled in and extra
// labels added. It runs kustomize and helm in-process, never shells out to
// kubectl, and needs no cluster unless a caller supplies a Scoper backed by one.
package render
