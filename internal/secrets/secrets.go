package secrets

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"sort"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/manifest"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Options are what Resolve needs besides the environment.
type Options struct {
	// Getenv looks up VAULT_ADDR, VAULT_TOKEN, VAULT_ID_TOKEN and
	// VAULT_NAMESPACE; nil means os.Getenv.
	Getenv func(string) string
}

func (o Options) getenv(k string) string {
	if o.Getenv == nil {
		return os.Getenv(k)
	}
	return o.Getenv(k)
}

// Secret is one resolved Secret of an environment. Its values are not
// exported and its String form names only the Secret, so printing a Secret
// never shows a value.
type Secret struct {
	Name string
	Type string
	data map[string][]byte
}

// String names the Secret and its keys, never its values.
func (s *Secret) String() string { return fmt.Sprintf("Secret %s (keys %v)", s.Name, s.Keys()) }

// GoString is String: %#v must not print values either.
func (s *Secret) GoString() string { return s.String() }

// Keys are the Secret's data keys, sorted.
func (s *Secret) Keys() []string {
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Object is the Kubernetes Secret to apply in namespace, its values
// base64-encoded under data as on the wire. Pass it to apply as
// Options.Secrets, which keeps it out of release records (apply keeps keyed
// digests of its values there instead).
func (s *Secret) Object(namespace string) manifest.Object {
	data := map[string]any{}
	for k, v := range s.data {
		data[k] = base64.StdEncoding.EncodeToString(v)
	}
	return manifest.Object{Unstructured: secretObject(s.Name, namespace, s.Type, "data", data)}
}

func secretObject(name, namespace, typ, field string, data map[string]any) *unstructured.Unstructured {
	if typ == "" {
		typ = "Opaque"
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata":   map[string]any{"name": name},
		"type":       typ,
	}}
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	if len(data) > 0 {
		u.Object[field] = data
	}
	return u
}

// Resolve reads every secret of environment e: all Vault reads go through
// one login, SOPS files are decrypted once each. The first failure stops it
// with an error naming the Secret, its key and where the value lives; no
// partial result is returned.
func Resolve(ctx context.Context, e config.Environment, opts Options) ([]*Secret, error) {
	if len(e.Secrets) == 0 {
		return nil, nil
	}
	if err := Validate(e); err != nil {
		return nil, err
	}
	var vc *vaultClient
	sops := map[string]map[string]any{}
	out := make([]*Secret, 0, len(e.Secrets))
	for _, s := range e.Secrets {
		sec := &Secret{Name: s.Name, Type: s.Type, data: map[string][]byte{}}
		for _, key := range sortedKeys(s.Data) {
			src := s.Data[key]
			var (
				v   []byte
				err error
			)
			switch {
			case src.Vault != nil:
				if vc == nil {
					if vc, err = newVaultClient(ctx, e, opts); err != nil {
						return nil, &Error{Environment: e.Name, Secret: s.Name, Key: key, Where: vaultWhere(src.Vault), Err: err}
					}
				}
				v, err = vc.read(ctx, src.Vault)
			case src.SOPS != nil:
				v, err = readSOPS(sops, src.SOPS)
			}
			if err != nil {
				return nil, &Error{Environment: e.Name, Secret: s.Name, Key: key, Where: where(src), Err: err}
			}
			sec.data[key] = v
		}
		out = append(out, sec)
	}
	return out, nil
}

// Placeholders are the environment's Secrets as skiff render shows them:
// every value replaced by a note saying where it will come from.
func Placeholders(e config.Environment, namespace string) []manifest.Object {
	out := make([]manifest.Object, 0, len(e.Secrets))
	for _, s := range e.Secrets {
		data := map[string]any{}
		for k, src := range s.Data {
			data[k] = "<secret from " + where(src) + ", read at deploy time>"
		}
		out = append(out, manifest.Object{Unstructured: secretObject(s.Name, namespace, s.Type, "stringData", data)})
	}
	return out
}

func sortedKeys(m map[string]config.SecretSource) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// where names the place a value lives, for messages and placeholders.
func where(src config.SecretSource) string {
	switch {
	case src.Vault != nil:
		return vaultWhere(src.Vault)
	case src.SOPS != nil:
		return "sops " + src.SOPS.File + "#" + src.SOPS.Key
	}
	return "nowhere"
}

func vaultWhere(v *config.VaultSecret) string {
	s := fmt.Sprintf("vault %s/%s#%s", mountOf(v), v.Path, v.Key)
	if v.Version > 0 {
		s += fmt.Sprintf(" version %d", v.Version)
	}
	return s
}

func mountOf(v *config.VaultSecret) string {
	if v.Mount == "" {
		return "secret"
	}
	return v.Mount
}

// Error is a secret that could not be read. Its message names the
// environment, the Secret, the key and the Vault path or SOPS file, on one
// line, and never holds a value.
type Error struct {
	Environment, Secret, Key, Where string
	Err                             error
}

func (e *Error) Error() string {
	return fmt.Sprintf("environment %s: secret %s key %s (%s): %v", e.Environment, e.Secret, e.Key, e.Where, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
