//go:build tools

// Package containerd pins the version of containerd and its runc shim for the
// sandbox's real node. It is a module of its own because containerd's
// dependency graph (grpc, otel, …) would move versions that the Kubernetes
// binaries of the parent module are built with.
package containerd

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
)
