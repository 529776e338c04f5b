// Package manifest is the hydrated-manifests contract between render and
// apply: multi-document YAML parsed into Kubernetes objects that remember the
// file and line they came from, a deterministic order (Namespaces and CRDs
// first) and a byte-stable encoding.
package manifest
