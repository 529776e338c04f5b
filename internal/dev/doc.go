// Package dev is the inner development loop behind `skiff dev`: it watches
// exactly the files each artifact's build reads, the manifests and the
// configuration; decides per change whether to copy files into running
// containers (sync), rebuild an artifact and its dependents, re-render and
// re-apply, or reload the configuration; and streams the deployed pods'
// logs and forwards local ports to them. It emits events and never prints;
// building, rendering and applying are small interfaces the caller wires.
package dev
