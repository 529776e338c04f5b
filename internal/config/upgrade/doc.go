// Package upgrade rewrites Skaffold configurations of older schema versions
// (skaffold/v2beta1 … v2beta29, v3alpha1, v3, v4beta1 … v4beta12) into
// skaffold/v4beta13, applying the same per-version rules as `skaffold fix`
// (Skaffold's pkg/skaffold/schema/<version>/upgrade.go). It works on YAML
// nodes, so comments and the order of the user's keys survive.
package upgrade
