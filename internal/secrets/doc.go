// Package secrets reads an environment's secrets at deploy time — from
// HashiCorp Vault's KV engines (token, JWT/OIDC or Kubernetes service
// account login) or from SOPS files encrypted with age — and turns them into
// Kubernetes Secret objects to apply. Values stay inside the Secret type:
// they never reach rendered output, release artifacts, release records,
// logs or errors; what leaves the package is placeholders and keyed digests.
package secrets
