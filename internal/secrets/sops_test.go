package secrets_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/secrets"
	"github.com/skiff-dev/skiff/internal/secrets/secretstest"
)

func TestSOPSAgeFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "staging.enc.yaml")
	key := secretstest.EncryptSOPS(t, file, "db:\n  password: sops-s3cret\napiKey: k-s3cret\n")
	if b, _ := os.ReadFile(file); strings.Contains(string(b), "s3cret") {
		t.Fatal("the SOPS file holds the plain value")
	}
	e := config.Environment{Name: "staging"}
	e.Secrets = []config.Secret{{Name: "app-db", Data: map[string]config.SecretSource{
		"password": {SOPS: &config.SOPSSecret{File: file, Key: "db.password"}},
		"api-key":  {SOPS: &config.SOPSSecret{File: file, Key: "apiKey"}},
	}}}
	t.Setenv("SOPS_AGE_KEY", key)
	got, err := secrets.Resolve(context.Background(), e, secrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkSecret(t, got, map[string]string{"password": "sops-s3cret", "api-key": "k-s3cret"})

	// A missing key, and the wrong age identity: one line, no value.
	e.Secrets[0].Data["password"] = config.SecretSource{SOPS: &config.SOPSSecret{File: file, Key: "db.nope"}}
	if _, err := secrets.Resolve(context.Background(), e, secrets.Options{}); err == nil || !strings.Contains(err.Error(), `has no key "db.nope"`) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("missing key: %v", err)
	}
	other, _ := age.GenerateX25519Identity()
	t.Setenv("SOPS_AGE_KEY", other.String())
	_, err = secrets.Resolve(context.Background(), e, secrets.Options{})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "sops "+file) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("wrong identity: %v", err)
	}
}

func TestPlaceholdersAndPlainSecrets(t *testing.T) {
	e := config.Environment{Name: "prod"}
	e.Secrets = []config.Secret{{Name: "app-db", Data: map[string]config.SecretSource{
		"password": {Vault: &config.VaultSecret{Path: "shop/db", Key: "password", Version: 3}},
	}}}
	ph := secrets.Placeholders(e, "shop-prod")
	if len(ph) != 1 {
		t.Fatal(ph)
	}
	sd, _ := ph[0].Object["stringData"].(map[string]any)
	if got := sd["password"]; got != "<secret from vault secret/shop/db#password version 3, read at deploy time>" {
		t.Errorf("placeholder %q", got)
	}
	if err := secrets.CheckNoPlainSecrets(e, ph); err == nil || !strings.Contains(err.Error(), "environments[prod].secrets") {
		t.Errorf("a Secret object was let into a release: %v", err)
	}
	e.AllowPlainSecrets = true
	if err := secrets.CheckNoPlainSecrets(e, ph); err != nil {
		t.Error(err)
	}
	e.Secrets[0].Data["password"] = config.SecretSource{}
	if err := secrets.Validate(e); err == nil {
		t.Error("a key without a source was accepted")
	}
}
