// Package apply puts hydrated manifests into a cluster: server-side apply in
// dependency order after a dry run of the whole set, an inventory of what
// each application owns in a namespace, pruning of what left the set, a
// release record per revision, and a status check with a failure policy
// (keep, roll back, delete). It returns change sets and emits events; it
// never prints.
package apply
