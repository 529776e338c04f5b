// Package secretstest gives tests the sandbox's Vault (hack/vault) with a
// root client, JWTs signed with the key its jwt/ auth trusts, and SOPS files
// encrypted for a fresh age identity: what the secrets and deploy tests of
// several packages share.
package secretstest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	sopsconfig "github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	"github.com/getsops/sops/v3/stores/yaml"
	vault "github.com/hashicorp/vault/api"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// Vault is the sandbox's Vault.
type Vault struct {
	// Addr and Token reach it as root; Issuer is the iss its jwt/ auth
	// expects.
	Addr, Token, Issuer string
	keyFile             string
	// Root is a client with the root token.
	Root *vault.Client
}

// RequireVault returns the sandbox's Vault; the test fails without one
// (under -short it is skipped, as testenv.Require does).
func RequireVault(t *testing.T) *Vault {
	t.Helper()
	e := testenv.Require(t)
	v := &Vault{Addr: e.Var("SKIFF_TEST_VAULT_ADDR"), Token: e.Var("SKIFF_TEST_VAULT_TOKEN"),
		keyFile: e.Var("SKIFF_TEST_VAULT_JWT_KEY"), Issuer: e.Var("SKIFF_TEST_VAULT_JWT_ISSUER")}
	if v.Addr == "" || v.Token == "" {
		t.Fatal("the sandbox has no Vault (.testenv/env lacks SKIFF_TEST_VAULT_ADDR): run hack/testenv up")
	}
	c, err := vault.NewClient(&vault.Config{Address: v.Addr})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(v.Token)
	v.Root = c
	return v
}

// Write writes data at path as root.
func (v *Vault) Write(t *testing.T, path string, data map[string]any) {
	t.Helper()
	if _, err := v.Root.Logical().Write(path, data); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

// MintJWT signs claims with the key the sandbox's jwt/ auth trusts, the way
// GitLab signs a job's id_tokens.
func (v *Vault) MintJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	data, err := os.ReadFile(v.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s holds no PEM block", v.keyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return SignES256(t, k.(*ecdsa.PrivateKey), claims)
}

// SignES256 returns a JWT of claims signed with k.
func SignES256(t *testing.T, k *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + enc(claims)
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// EncryptSOPS writes plain (YAML, JSON or dotenv, by file's extension) as
// a SOPS file encrypted for a new age identity with SOPS's own library, the
// way `sops -e --age RECIPIENT` does, and returns the identity's secret key
// (for SOPS_AGE_KEY).
func EncryptSOPS(t testing.TB, file, plain string) string {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := sopsage.MasterKeyFromRecipient(id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	var store sops.Store = yaml.NewStore(&sopsconfig.YAMLStoreConfig{})
	switch filepath.Ext(file) {
	case ".json":
		store = sopsjson.NewStore(&sopsconfig.JSONStoreConfig{})
	case ".env":
		store = dotenv.NewStore(&sopsconfig.DotenvStoreConfig{})
	}
	branches, err := store.LoadPlainFile([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{KeyGroups: []sops.KeyGroup{{keys.MasterKey(mk)}}, UnencryptedSuffix: "_unencrypted", Version: "3.13.3"}}
	dataKey, errs := tree.GenerateDataKey()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := common.EncryptTree(common.EncryptTreeOpts{Tree: &tree, Cipher: aes.NewCipher(), DataKey: dataKey}); err != nil {
		t.Fatal(err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return id.String()
}
