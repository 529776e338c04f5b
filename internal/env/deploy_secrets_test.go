package env

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/kube"
)

// An environment whose Secrets come from Vault or SOPS is refused before
// anything is connected to or applied, until deploy can create them.
func TestDeployRefusesSecretsItCannotCreate(t *testing.T) {
	connected := false
	deps := DeployDeps{Connect: func(*config.Environment) (*kube.Clients, error) {
		connected = true
		return nil, errors.New("not reached")
	}}
	e := config.Environment{Name: "staging"}
	e.Secrets = []config.Secret{{Name: "db", Data: map[string]config.SecretSource{"password": {SOPS: &config.SOPSSecret{}}}}}
	_, err := Deploy(context.Background(), deps, DeployRequest{App: "shop", Environment: e})
	var se *StepError
	if !errors.As(err, &se) || se.Step != StepTarget || !errors.Is(err, ErrSecretsNotDeployed) {
		t.Fatalf("got %v, want a %s step error wrapping ErrSecretsNotDeployed", err, StepTarget)
	}
	if !strings.Contains(err.Error(), `"staging"`) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error does not name the environment on one line: %q", err)
	}
	if connected {
		t.Error("the cluster was connected to")
	}
}
