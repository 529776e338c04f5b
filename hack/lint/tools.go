//go:build tools

// Package lint pins the version of staticcheck that `make lint` runs;
// hack/lint/run builds it from this module, never from the main module.
package lint

import (
	_ "honnef.co/go/tools/cmd/staticcheck"
)
