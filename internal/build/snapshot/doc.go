// Package snapshot turns what a build step changed in a root filesystem into
// an OCI layer. The overlay Snapshotter stacks extracted layer directories as
// overlayfs lower directories, lets the step write to a fresh upper
// directory, and tars that upper directory — so a layer costs what the step
// changed, not the size of the filesystem. The walk Snapshotter is the
// fallback where overlayfs is unavailable: it compares the tree before and
// after the step. Both write deterministic tars with OCI whiteouts.
package snapshot
