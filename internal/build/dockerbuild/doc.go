// Package dockerbuild builds a Dockerfile into an OCI image without a
// daemon. It walks the stages the target needs, looks every filesystem step
// up in the cache by a content key, and runs misses in a snapshotter: RUN in
// the sandbox, COPY and ADD by copying with Docker's semantics. It returns
// the image (layers stay in a local blob directory) and reports progress as
// events; pushing is the caller's job.
package dockerbuild
