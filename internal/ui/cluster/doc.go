// Package cluster implements skiff ui's Source over the engines: release
// records and inventory status from internal/apply, releases from
// internal/release, and live updates from Kubernetes watches (namespaces,
// then each environment namespace's records, inventory and objects).
package cluster
