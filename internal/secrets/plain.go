package secrets

import (
	"fmt"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// PlainSecretError is a Secret object in an environment's rendered
// manifests, which would go into a release artifact readable by anyone who
// may pull it.
type PlainSecretError struct {
	Environment string
	Object      string // Kind namespace/name
	Origin      string // file:line it was rendered from, when known
}

func (e *PlainSecretError) Error() string {
	at := ""
	if e.Origin != "" {
		at = " (" + e.Origin + ")"
	}
	return fmt.Sprintf("environment %s: the rendered manifests hold %s%s: a release artifact must not carry secret values; "+
		"declare it under environments[%s].secrets (values from Vault or SOPS, read at deploy time), or set allowPlainSecrets: true on the environment",
		e.Environment, e.Object, at, e.Environment)
}

// CheckNoPlainSecrets refuses Secret objects in objs unless e allows them
// (allowPlainSecrets: true).
func CheckNoPlainSecrets(e config.Environment, objs []manifest.Object) error {
	if e.AllowPlainSecrets {
		return nil
	}
	for _, o := range objs {
		if o.GroupKind().Group == "" && o.GroupKind().Kind == "Secret" {
			return &PlainSecretError{Environment: e.Name, Object: o.ID(), Origin: o.Origin.String()}
		}
	}
	return nil
}
