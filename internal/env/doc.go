// Package env owns environments: where an application runs (a namespace in
// a cluster), how its namespace is named per ref, who may deploy there
// (protection, approval, RBAC) and how the cluster itself enforces
// immutability (a ValidatingAdmissionPolicy). It builds on internal/apply for
// deploying and on the release records for history and rollback.
package env
