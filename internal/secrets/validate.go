package secrets

import (
	"fmt"

	"github.com/skiff-dev/skiff/internal/config"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Validate checks an environment's secrets: names and keys valid for
// Kubernetes, exactly one source per key, known KV versions and a role for
// the login methods that need one.
func Validate(e config.Environment) error {
	seen := map[string]bool{}
	for i, s := range e.Secrets {
		field := fmt.Sprintf("environments[%s].secrets[%d]", e.Name, i)
		if errs := validation.IsDNS1123Subdomain(s.Name); len(errs) > 0 {
			return fmt.Errorf("%s.name %q: %s", field, s.Name, errs[0])
		}
		if seen[s.Name] {
			return fmt.Errorf("%s.name: secret %s is listed twice", field, s.Name)
		}
		seen[s.Name] = true
		if len(s.Data) == 0 {
			return fmt.Errorf("%s.data: secret %s has no keys", field, s.Name)
		}
		for k, src := range s.Data {
			kf := field + ".data." + k
			if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
				return fmt.Errorf("%s: %s", kf, errs[0])
			}
			switch {
			case src.Vault == nil && src.SOPS == nil:
				return fmt.Errorf("%s: name where the value comes from: vault or sops", kf)
			case src.Vault != nil && src.SOPS != nil:
				return fmt.Errorf("%s: only one of vault, sops may be set", kf)
			case src.Vault != nil:
				if src.Vault.KV != 0 && src.Vault.KV != 1 && src.Vault.KV != 2 {
					return fmt.Errorf("%s.vault.kv: %d is not 1 or 2", kf, src.Vault.KV)
				}
				if src.Vault.KV == 1 && src.Vault.Version != 0 {
					return fmt.Errorf("%s.vault.version: KV v1 has no versions", kf)
				}
				if src.Vault.Path == "" || src.Vault.Key == "" {
					return fmt.Errorf("%s.vault: path and key are required", kf)
				}
			case src.SOPS != nil:
				if src.SOPS.File == "" || src.SOPS.Key == "" {
					return fmt.Errorf("%s.sops: file and key are required", kf)
				}
			}
		}
	}
	if e.Vault != nil {
		switch m := AuthMethod(e.Vault.Auth); m {
		case "jwt", "kubernetes":
			if e.Vault.Auth.Role == "" {
				return fmt.Errorf("environments[%s].vault.auth.role: the %s method needs a role", e.Name, m)
			}
		case "token":
		default:
			return fmt.Errorf("environments[%s].vault.auth.method: %q is not one of token, jwt, kubernetes", e.Name, m)
		}
	}
	return nil
}
