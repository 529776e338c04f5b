// Package inplace is container isolation, Kaniko's model for a container
// that may create neither namespaces nor mounts: RUN executes in the
// container's own root filesystem, where each stage's files are unpacked
// (snapshot.Tree), under the container's own seccomp profile, capabilities
// and network. It detects whether skiff runs in a container at all, lists
// what belongs to the container rather than to the image (its mounts,
// skiff's own files, the build's inputs), and stands in for RUN --mount by
// putting the mounted files in place for the command and taking them away
// after it.
package inplace
