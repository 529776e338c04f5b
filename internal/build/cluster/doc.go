// Package cluster builds Dockerfile artifacts in pods of skiff's own image
// in a Kubernetes cluster (Skaffold's build.cluster, skiff build
// --cluster), in container isolation: the pod runs with the container
// runtime's defaults (no privilege, no added capabilities, no privilege
// escalation, the runtime's seccomp profile). The client streams a job and
// the build context (the files the Dockerfile may read, minus
// .dockerignore) into the pod as a tar over the exec API, the pod's skiff
// (Serve) builds and pushes with the same registry layer cache as a local
// build, and its progress comes back as JSON lines. Registry credentials
// reach the pod only as a mounted Secret. The pod is deleted when the
// build ends, fails, times out or is interrupted.
package cluster
