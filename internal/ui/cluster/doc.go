// Package cluster implements skiff ui's Source and Actions over the
// engines: the environment list from env.List (Rows), release records and
// inventory status from internal/apply, releases from internal/release,
// live updates from Kubernetes watches (namespaces, then each environment
// namespace's records, inventory and objects), and rollback and stop
// through env.Rollback and env.Stop with the CLI's rules.
package cluster
