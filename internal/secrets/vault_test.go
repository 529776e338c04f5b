package secrets_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/secrets"
	"github.com/skiff-dev/skiff/internal/secrets/secretstest"
)

func env(vars map[string]string) secrets.Options {
	return secrets.Options{Getenv: func(k string) string { return vars[k] }}
}

func vaultEnv(name string, auth config.VaultAuth, data map[string]config.SecretSource) config.Environment {
	e := config.Environment{Name: name}
	e.Vault = &config.Vault{Auth: auth}
	e.Secrets = []config.Secret{{Name: "app-db", Data: data}}
	return e
}

func unique(t *testing.T) string {
	return strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-" + time.Now().Format("150405.000000")
}

func TestVaultTokenJWTAndErrors(t *testing.T) {
	v := secretstest.RequireVault(t)
	ctx := context.Background()
	path := "skiff/" + unique(t)
	v.Write(t, "secret/data/"+path, map[string]any{"data": map[string]any{"password": "first-s3cret"}})
	v.Write(t, "secret/data/"+path, map[string]any{"data": map[string]any{"password": "second-s3cret"}})
	v.Write(t, "kv1/"+path, map[string]any{"token": "v1-s3cret"})
	v.Write(t, "sys/policies/acl/"+strings.ReplaceAll(path, "/", "-"), map[string]any{
		"policy": `path "secret/data/` + path + `" { capabilities = ["read"] }`})
	role := strings.ReplaceAll(path, "/", "-")
	v.Write(t, "auth/jwt/role/"+role, map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"https://vault.test"},
		"bound_claims": map[string]any{"project_path": "group/shop"}, "token_policies": []string{role}, "token_ttl": "5m"})

	data := map[string]config.SecretSource{
		"password":     {Vault: &config.VaultSecret{Path: path, Key: "password"}},
		"old-password": {Vault: &config.VaultSecret{Path: path, Key: "password", Version: 1}},
		"token":        {Vault: &config.VaultSecret{Mount: "kv1", Path: path, Key: "token", KV: 1}},
	}
	t.Run("token", func(t *testing.T) {
		got, err := secrets.Resolve(ctx, vaultEnv("staging", config.VaultAuth{}, data), env(map[string]string{"VAULT_ADDR": v.Addr, "VAULT_TOKEN": v.Token}))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"password": "second-s3cret", "old-password": "first-s3cret", "token": "v1-s3cret"}
		checkSecret(t, got, want)
	})
	now := time.Now().Unix()
	claims := func(aud, project string) map[string]any {
		return map[string]any{"iss": v.Issuer, "sub": "project_path:" + project, "aud": aud, "iat": now, "nbf": now - 5, "exp": now + 300, "project_path": project}
	}
	jwtAuth := config.VaultAuth{Method: "jwt", Role: role}
	jwtData := map[string]config.SecretSource{"password": data["password"]}
	t.Run("jwt", func(t *testing.T) {
		jwt := v.MintJWT(t, claims("https://vault.test", "group/shop"))
		got, err := secrets.Resolve(ctx, vaultEnv("review", jwtAuth, jwtData), env(map[string]string{"VAULT_ADDR": v.Addr, "VAULT_ID_TOKEN": jwt}))
		if err != nil {
			t.Fatal(err)
		}
		checkSecret(t, got, map[string]string{"password": "second-s3cret"})
	})

	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		e    config.Environment
		vars map[string]string
		want []string
	}{
		{"unreachable", vaultEnv("staging", config.VaultAuth{}, jwtData), map[string]string{"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": v.Token},
			[]string{"secret app-db key password", "vault secret/" + path + "#password", "connection refused"}},
		{"missing path", vaultEnv("staging", config.VaultAuth{}, map[string]config.SecretSource{"x": {Vault: &config.VaultSecret{Path: path + "-gone", Key: "x"}}}),
			map[string]string{"VAULT_ADDR": v.Addr, "VAULT_TOKEN": v.Token}, []string{"secret app-db key x", "no secret at secret/" + path + "-gone"}},
		{"missing key", vaultEnv("staging", config.VaultAuth{}, map[string]config.SecretSource{"x": {Vault: &config.VaultSecret{Path: path, Key: "nope"}}}),
			map[string]string{"VAULT_ADDR": v.Addr, "VAULT_TOKEN": v.Token}, []string{"has no key \"nope\""}},
		{"wrong role", vaultEnv("review", config.VaultAuth{Method: "jwt", Role: role + "-nope"}, jwtData),
			map[string]string{"VAULT_ADDR": v.Addr, "VAULT_ID_TOKEN": v.MintJWT(t, claims("https://vault.test", "group/shop"))},
			[]string{"vault login with jwt auth at auth/jwt as role", "HTTP 400", "role"}},
		{"denied jwt: other project", vaultEnv("review", jwtAuth, jwtData),
			map[string]string{"VAULT_ADDR": v.Addr, "VAULT_ID_TOKEN": v.MintJWT(t, claims("https://vault.test", "group/other"))},
			[]string{"vault login with jwt auth", "claim"}},
		{"denied jwt: foreign key", vaultEnv("review", jwtAuth, jwtData),
			map[string]string{"VAULT_ADDR": v.Addr, "VAULT_ID_TOKEN": secretstest.SignES256(t, otherKey, claims("https://vault.test", "group/shop"))},
			[]string{"vault login with jwt auth", "HTTP 400"}},
		{"no token", vaultEnv("staging", config.VaultAuth{}, jwtData), map[string]string{"VAULT_ADDR": v.Addr}, []string{"VAULT_TOKEN is not set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := secrets.Resolve(ctx, tc.e, env(tc.vars))
			if err == nil {
				t.Fatalf("no error; got %v", got)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range append(tc.want, "environment "+tc.e.Name) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			leaks := []string{"s3cret", v.Token}
			if jwt := tc.vars["VAULT_ID_TOKEN"]; jwt != "" {
				leaks = append(leaks, jwt[strings.LastIndex(jwt, ".")+1:])
			}
			for _, leak := range leaks {
				if strings.Contains(msg, leak) {
					t.Errorf("error leaks a credential or value: %q", msg)
				}
			}
		})
	}
}

func checkSecret(t *testing.T, got []*secrets.Secret, want map[string]string) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("got %d secrets", len(got))
	}
	obj := got[0].Object("ns1")
	if obj.GetKind() != "Secret" || obj.GetName() != "app-db" || obj.GetNamespace() != "ns1" {
		t.Fatalf("object %s", obj.ID())
	}
	data, _ := obj.Object["data"].(map[string]any)
	if len(data) != len(want) {
		t.Fatalf("keys %v, want %v", got[0].Keys(), want)
	}
	for k, w := range want {
		if b, _ := base64.StdEncoding.DecodeString(fmt.Sprint(data[k])); string(b) != w {
			t.Errorf("key %s: got %q, want %q", k, b, w)
		}
		if shown := fmt.Sprintf("%v %+v %#v %s", got, got[0], got[0], got[0]); strings.Contains(shown, w) {
			t.Errorf("printing the Secret shows a value: %s", shown)
		}
	}
}
