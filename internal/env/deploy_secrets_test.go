package env

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/secrets"
)

// A secret that cannot be read ends the deploy at the secrets step, before
// the cluster is even connected to, with one line naming the Secret, the
// key and where the value lives.
func TestDeployStopsOnUnreadableSecret(t *testing.T) {
	connected := false
	deps := DeployDeps{
		Connect: func(*config.Environment) (*kube.Clients, error) {
			connected = true
			return nil, errors.New("not reached")
		},
		Render: func(context.Context, string) ([]manifest.Object, error) { return nil, nil },
	}
	missing := filepath.Join(t.TempDir(), "staging.enc.yaml")
	for _, tc := range []struct {
		name string
		src  config.SecretSource
		want []string
	}{
		{"sops file missing", config.SecretSource{SOPS: &config.SOPSSecret{File: missing, Key: "db.password"}},
			[]string{"secret db key password", "sops " + missing + "#db.password", "no such file"}},
		{"no vault address", config.SecretSource{Vault: &config.VaultSecret{Path: "shop/db", Key: "password"}},
			[]string{"secret db key password", "vault secret/shop/db#password", "VAULT_ADDR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deps.Secrets = secrets.Options{Getenv: func(string) string { return "" }}
			e := config.Environment{Name: "staging"}
			e.Secrets = []config.Secret{{Name: "db", Data: map[string]config.SecretSource{"password": tc.src}}}
			_, err := Deploy(context.Background(), deps, DeployRequest{App: "shop", Environment: e})
			var se *StepError
			var sec *secrets.Error
			if !errors.As(err, &se) || se.Step != StepSecrets || !errors.As(err, &sec) {
				t.Fatalf("got %v, want a %s step error wrapping a secrets.Error", err, StepSecrets)
			}
			for _, w := range append(tc.want, "environment staging") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if connected {
				t.Error("the cluster was connected to")
			}
		})
	}
}
